"""The dashboard in a real browser: Debian's Chromium driven by Playwright (no browser download),
against `streamlit run dashboard/app.py` and PostgreSQL.

Writes the logged-in screenshot to test-results/screenshots/dashboard.png (plus phone and dark
variants). To refresh the README's images:
    NPSCSAT_SCREENSHOT_DIR=docs/screenshots uv run pytest tests/dashboard/test_browser.py
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from tests.conftest import reset_data
from tests.dashboard.conftest import (
    PASSWORD,
    Response,
    insert_responses,
    insert_user,
    synthetic_responses,
)
from tests.dashboard.live import (
    REPO,
    TIMEOUT_MS,
    auth_cookies,
    dashboard_env,
    log_in,
    open_app,
    serve_dashboard,
    wait_for_cookie,
)

pytestmark = pytest.mark.slow

# Outside git by default, so a test run leaves the working tree clean.
SCREENSHOTS = REPO / os.environ.get("NPSCSAT_SCREENSHOT_DIR", "test-results/screenshots")
HOSTILE_COMMENT = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> **b**'
INJECTION = "alice' OR '1'='1' --"
REAL_SOURCE = "import:helpdesk"
DEMO_NOTICE = "demo data written by a language model"


@pytest.fixture(scope="module")
def live_app(migrated_db) -> Iterator[str]:
    """The dashboard served by Streamlit on a free port, over seeded data: demo data and
    imported (real) responses, so the source filter has something to keep apart."""
    reset_data(migrated_db.engine)
    insert_user(migrated_db.engine, "alice")
    insert_responses(
        migrated_db.engine, synthetic_responses(1200, last_day=date(2026, 11, 30), days=120)
    )
    insert_responses(
        migrated_db.engine,
        synthetic_responses(
            900, last_day=date(2026, 11, 30), days=120, seed=11, source=REAL_SOURCE
        ),
    )
    insert_responses(
        migrated_db.engine,
        [
            Response(
                datetime(2026, 11, 30, 15, tzinfo=UTC),
                channel="chat",
                nps_score=1,
                csat_score=1,
                comment=HOSTILE_COMMENT,
                sentiment="negative",
                source=REAL_SOURCE,
                external_id="hostile-1",
            )
        ],
    )
    with serve_dashboard(dashboard_env(migrated_db)) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def wait_for_charts(page, count: int = 2) -> None:
    page.get_by_role("heading", name="NPS per period").wait_for()
    page.get_by_role("heading", name="CSAT per period").wait_for()
    page.wait_for_function(
        f"document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= {count}"
    )
    page.wait_for_timeout(800)  # let the charts finish drawing before a screenshot


def screenshot(page, name: str, height: int = 2900) -> None:
    """The whole page: Streamlit scrolls inside its own container, so the window is made tall
    enough to hold everything instead of relying on a full-page capture."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    page.wait_for_timeout(1200)  # charts re-layout to the new size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))
    page.set_viewport_size(size)


def test_log_in_see_charts_change_granularity_log_out_and_stay_out(live_app, page):
    open_app(page, live_app)
    assert page.locator(".vega-embed").count() == 0  # nothing but the form before login
    log_in(page, "alice", PASSWORD)
    wait_for_charts(page)
    assert page.get_by_text("Signed in as").is_visible()
    assert page.get_by_text("Mean CSAT").first.is_visible()
    screenshot(page, "dashboard.png")

    page.get_by_role("radio", name="Month", exact=True).click()  # the segmented control
    page.get_by_text("per month").first.wait_for()
    wait_for_charts(page)

    wait_for_cookie(page, present=True)  # remember-me: a reload keeps the session
    page.reload()
    wait_for_charts(page)

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("textbox", name="Username").wait_for()
    # Elements of the previous run stay (greyed) until the new run ends, then they go.
    expect(page.locator(".vega-embed")).to_have_count(0)
    wait_for_cookie(page, present=False)  # the browser confirmed the delete
    page.reload()
    page.get_by_role("textbox", name="Username").wait_for()
    page.wait_for_timeout(1500)  # give a (wrong) cookie login time to happen
    expect(page.locator(".vega-embed")).to_have_count(0)
    assert not page.get_by_text("Signed in as").is_visible()


def test_a_cookie_kept_after_logout_does_not_log_back_in(live_app, browser, page):
    open_app(page, live_app)
    log_in(page, "alice", PASSWORD)
    wait_for_charts(page)
    wait_for_cookie(page, present=True)
    stolen = auth_cookies(page.context)
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("textbox", name="Username").wait_for()

    # A browser that never deleted it (or a copy) presents the old cookie again.
    other = browser.new_context()
    other.add_cookies(stolen)
    replay = other.new_page()
    replay.set_default_timeout(TIMEOUT_MS)
    open_app(replay, live_app)
    replay.wait_for_timeout(1500)
    expect(replay.locator(".vega-embed")).to_have_count(0)
    assert replay.get_by_role("textbox", name="Username").is_visible()
    other.close()


def test_injection_username_and_html_comment_are_harmless(live_app, page, migrated_db):
    open_app(page, live_app)
    log_in(page, INJECTION, "' OR '1'='1")
    page.get_by_text("Wrong username or password").wait_for()
    expect(page.locator(".vega-embed")).to_have_count(0)
    with migrated_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app.users")).scalar_one() == 1

    log_in(page, "alice", PASSWORD)
    wait_for_charts(page)
    page.get_by_text(HOSTILE_COMMENT).wait_for()  # shown literally, as text
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script", has_text="__xss").count() == 0


def test_csv_download_holds_the_figures_of_the_charts(live_app, page):
    open_app(page, live_app)
    log_in(page, "alice", PASSWORD)
    wait_for_charts(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Figures per ISO week (CSV)").click()
    assert "import-helpdesk" in download.value.suggested_filename  # the sources it covers
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows and all(row["period_label"].startswith("2026-W") for row in rows)
    assert {row["sources"] for row in rows} == {REAL_SOURCE}
    assert {"nps", "nps_low", "nps_high", "csat_pct", "csat_low", "low_sample"} <= set(rows[0])
    total = page.locator('[data-testid="stMetric"]', has_text="Responses")
    assert f"{sum(int(r['responses']) for r in rows):,}" in total.inner_text()


def test_the_source_filter_shows_real_responses_first_and_names_demo_data(live_app, page):
    open_app(page, live_app)
    log_in(page, "alice", PASSWORD)
    wait_for_charts(page)
    sources = page.locator('[data-testid="stMultiSelect"]', has_text="Sources")
    expect(sources).to_contain_text("Import: helpdesk")
    expect(sources).not_to_contain_text("Demo data")
    expect(page.get_by_text(DEMO_NOTICE)).to_have_count(0)
    total = page.locator('[data-testid="stMetric"]', has_text="Responses")
    real_only = total.inner_text()

    sources.locator("input").click()  # opens the list of the other sources
    page.get_by_role("option", name=re.compile("Demo data \\(generated\\)")).click()
    page.keyboard.press("Escape")
    page.get_by_text(DEMO_NOTICE).wait_for()  # said plainly, above the figures
    expect(sources).to_contain_text("Demo data")
    expect(total).not_to_have_text(real_only)  # the demo rows are counted now
    wait_for_charts(page)
    screenshot(page, "dashboard-demo-data.png", height=1400)


@pytest.mark.parametrize(
    ("name", "viewport", "scheme"),
    [("phone", {"width": 390, "height": 844}, "light"), ("dark", None, "dark")],
)
def test_phone_width_and_dark_theme_stay_legible(live_app, browser, name, viewport, scheme):
    context = browser.new_context(
        viewport=viewport or {"width": 1400, "height": 1000}, color_scheme=scheme
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    open_app(page, live_app)
    log_in(page, "alice", PASSWORD)
    wait_for_charts(page)
    # nothing wider than the window: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    colours = page.evaluate(
        """() => {
            const app = getComputedStyle(document.querySelector('.stApp'));
            const text = getComputedStyle(document.querySelector('h1'));
            return [app.backgroundColor, text.color];
        }"""
    )
    background, foreground = (luminance(c) for c in colours)
    assert abs(background - foreground) > 0.5  # strong contrast in both themes
    assert (background < 0.5) == (scheme == "dark")
    screenshot(page, f"dashboard-{name}.png", height=1000 if name == "dark" else 2400)
    context.close()


def luminance(css_colour: str) -> float:
    """Relative luminance 0..1 of an rgb()/rgba() CSS colour."""
    parts = css_colour[css_colour.index("(") + 1 : css_colour.index(")")].split(",")
    red, green, blue = (float(p) / 255 for p in parts[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
