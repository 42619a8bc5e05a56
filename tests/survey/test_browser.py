"""The survey in a real browser (Debian's Chromium through Playwright), with JavaScript on and
off: open a link with ?score=3, answer, see the thank-you page; the row holds the right source,
scores and comment; the dashboard's figures include it. Also: the page's own POST records the
clicked score only once the page has been visible, a comment holding HTML stays inert, the page
fits a phone, and the compose smoke script passes against real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from dashboard.queries import fetch_overview
from npscsat.reporting import ReportFilter
from npscsat.survey_links import SurveyLinks
from tests.dashboard.conftest import PASSWORD, insert_user
from tests.dashboard.live import dashboard_env, serve_dashboard
from tests.survey.conftest import REPO, SIGNING_KEY, answers, invite, serve_survey, survey_env

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(os.environ.get("NPSCSAT_SCREENSHOT_DIR", REPO / "test-results" / "screenshots"))
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def survey_url(migrated_db):
    # The minimum time to submit stays at its default (2 s): a browser is a person here.
    with serve_survey(survey_env(migrated_db)) as url:
        yield url


def link(url: str, invitation, score: int | None = None) -> str:
    return SurveyLinks(SIGNING_KEY, url, 30).link(invitation, score)


def new_page(browser, *, javascript: bool, width: int = 1280, height: int = 900):
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": width, "height": height}
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


def dashboard_total(db, source: str = "survey") -> tuple[int, int]:
    with db.dashboard_engine.connect() as conn:
        overview = fetch_overview(
            conn, ReportFilter(date(2000, 1, 1), date.today(), sources=(source,)), "day"
        )
    return overview.totals.responses, overview.totals.csat_count


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_answering_a_score_link_in_a_browser(db, browser, survey_url, javascript):
    invitation = invite(db.engine, f"T-{javascript}")
    page, problems = new_page(browser, javascript=javascript)
    page.goto(link(survey_url, invitation, 3))
    assert page.get_by_role("radio", name="Score 3").is_checked()

    page.wait_for_timeout(4500)  # visible for a while: with JavaScript the page records the 3
    if javascript:
        page.get_by_text("Your score is recorded.").wait_for()
        page.screenshot(path=str(SCREENSHOTS / "survey.png"), full_page=True)
        assert [tuple(a)[:4] for a in answers(db.engine)] == [
            (f"T-{javascript}", "survey", 3, None)
        ]
    else:
        assert answers(db.engine) == []  # nothing runs, nothing is recorded by itself

    page.get_by_text("Satisfied", exact=True).click()
    page.get_by_label("Anything you would like to tell us? (optional)").fill(
        "Quick and kind, thank you."
    )
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("heading", name="Thank you for your answer").wait_for()
    page.screenshot(path=str(SCREENSHOTS / f"survey-thanks-{'js' if javascript else 'nojs'}.png"))

    ((_, source, nps, csat, comment, bot, _),) = answers(db.engine)
    assert (source, nps, csat, comment, bot) == (
        "survey",
        3,
        4,
        "Quick and kind, thank you.",
        False,
    )
    assert dashboard_total(db) == (1, 1)  # the dashboard's figures include it
    assert problems == [], problems  # no CSP violation, no missing resource, no script error


def test_the_answer_can_be_changed_and_html_in_a_comment_stays_inert(db, browser, survey_url):
    invitation = invite(db.engine, "T-html")
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    page, problems = new_page(browser, javascript=True)
    url = link(survey_url, invitation)
    page.goto(url)
    page.locator('label[for="nps_score-10"]').click()
    page.get_by_label("Anything you would like to tell us? (optional)").fill(hostile)
    page.wait_for_timeout(2200)
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("link", name="Change my answer").click()
    page.get_by_text("You have already answered").wait_for()
    assert page.evaluate("window.__pwned") is None
    assert (
        page.get_by_label("Anything you would like to tell us? (optional)").input_value() == hostile
    )
    assert page.locator("main img").count() == 0
    page.locator('label[for="nps_score-8"]').click()
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("heading", name="Thank you for your answer").wait_for()
    assert [tuple(a)[2:5] for a in answers(db.engine)] == [(8, None, hostile)]
    assert problems == [], problems


def test_the_page_is_comfortable_on_a_phone_and_usable_by_keyboard(db, browser, survey_url):
    invitation = invite(db.engine, "T-phone", locale="pt-BR")
    page, _ = new_page(browser, javascript=True, width=390, height=844)
    page.goto(link(survey_url, invitation, 9))
    assert page.evaluate("document.documentElement.lang") == "pt-BR"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # no sideways scroll
    box = page.locator('label[for="nps_score-0"]').bounding_box()
    assert box["width"] >= 40 and box["height"] >= 40  # a thumb-sized target
    page.screenshot(path=str(SCREENSHOTS / "survey-phone.png"), full_page=True)
    # Keyboard only: Tab to the scale, arrows to a score, Tab on to the comment, Enter sends.
    page.locator("#nps_score-9").focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("#nps_score-10").is_checked()
    page.locator("#comment").focus()
    page.keyboard.type("Pelo teclado")
    page.wait_for_timeout(2200)
    page.locator("button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Obrigado pela sua resposta").wait_for()
    assert [tuple(a)[2:5] for a in answers(db.engine)] == [(10, None, "Pelo teclado")]


def test_the_compose_smoke_script_answers_and_finds_the_answer_on_the_dashboard(
    db, survey_url, tmp_path
):
    """Twice within the dashboard's one-minute cache, as CI runs it right after the login smoke:
    the second answer must show too (the script presses Refresh data)."""
    insert_user(db.engine, "alice")
    first, second = invite(db.engine, "T-smoke-1"), invite(db.engine, "T-smoke-2")
    with serve_dashboard(dashboard_env(db)) as dashboard_url:
        outputs = []
        for invitation in (first, second):
            done = subprocess.run(
                [
                    sys.executable,
                    str(REPO / "scripts" / "smoke_survey.py"),
                    "--link",
                    link("http://localhost:1", invitation, 9),
                    "--survey-url",
                    survey_url,
                    "--dashboard-url",
                    dashboard_url,
                    "--username",
                    "alice",
                    "--password",
                    PASSWORD,
                ],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            outputs.append(done.stdout)
    assert "1 response(s) in the figures" in outputs[0]
    assert "2 response(s) in the figures" in outputs[1]
    assert [tuple(a)[2:5] for a in answers(db.engine)] == [
        (9, 5, "Answered by the survey smoke test.")
    ] * 2


def _luminance(rgb: str) -> float:
    red, green, blue = (int(v) / 255 for v in rgb[rgb.index("(") + 1 : -1].split(",")[:3])

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_is_at_least_4_5_to_1_in_both_themes(db, browser, survey_url, scheme):
    invitation = invite(db.engine, f"T-{scheme}")
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(link(survey_url, invitation, 7))
    colours = page.evaluate(
        """() => {
            const style = (selector) => getComputedStyle(document.querySelector(selector));
            const card = style('main').backgroundColor;
            return [
                ['heading', style('h1').color, card],
                ['legend', style('legend').color, card],
                ['hint', style('.hint').color, card],
                ['score', style('label[for="nps_score-2"]').color, card],
                ['chosen score', style('label[for="nps_score-7"]').color,
                 style('label[for="nps_score-7"]').backgroundColor],
                ['button', style('button').color, style('button').backgroundColor],
            ];
        }"""
    )
    for what, foreground, background in colours:
        assert contrast(foreground, background) >= 4.5, (scheme, what, foreground, background)
    context.close()
