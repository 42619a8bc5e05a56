"""Dashboard benchmark (issue 4): prints figures, asserts only the brief's bar.

    uv run python -m benchmarks.bench_dashboard [--rows 1000000] [--no-browser]

In one run, on a throwaway database (same server choice as the tests, see testkit/pg.py) holding
N synthetic responses over 365 days:
1. the reads behind one filter change of the page (dashboard.queries.fetch_overview: KPIs,
   previous-period KPIs, weekly series, per-channel totals; last 90 days, three channels) from
   the rollup through the read-only role, versus loading the same rows into pandas and computing
   the figures there. The bar: >= 100x faster at 1,000,000 responses;
2. the comment list (the one raw-row read): the latest shown, and with a search word;
3. full page runs of the real app in Streamlit's AppTest: login + first page (cold caches),
   a filter change (cold for that selection) and a rerun answered from the cache;
4. page load in Chromium (Debian's, via Playwright): a bare "hello" Streamlit page, the
   dashboard's login page, and the logged-in dashboard until every chart is drawn, each the
   median of several loads, the servers started side by side in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from benchmarks.bench_reporting import copy_rows, filter_change_in_pandas, timed, vacuum_analyze
from benchmarks.synthetic import now_utc, responses_tsv
from dashboard.config import DashboardSettings
from dashboard.queries import fetch_overview
from jobs.migrate import run_migrate
from npscsat import reporting
from npscsat.db import create_db_engine
from npscsat.reporting import ReportFilter
from testkit.browser import CHROMIUM, CHROMIUM_ARGS
from testkit.pg import admin_server, drop_role, throwaway_database

DAYS = 365
FILTER_CHANNELS = ("phone", "chat", "whatsapp")
BAR_SPEEDUP = 100
COMMENTS_SHOWN = DashboardSettings.model_fields["dashboard_comments_limit"].default
REPO = Path(__file__).resolve().parents[1]
APP_PATH = REPO / "dashboard" / "app.py"
RESULTS = REPO / "benchmarks" / "results" / "dashboard.json"
USERNAME, PASSWORD = "bench", "bench-password-not-secret"


@dataclass(frozen=True)
class BenchDatabase:
    engine: Engine  # owner
    dashboard_url: URL  # read-only role
    last_day: date


@contextlib.contextmanager
def bench_database(rows: int, admin_url: URL | None = None) -> Iterator[BenchDatabase]:
    """A throwaway database with the schema, a dashboard role, one user and `rows` responses."""
    import bcrypt

    with contextlib.ExitStack() as stack:
        admin = admin_url or stack.enter_context(admin_server())
        role, role_password = f"npscsat_bench_{secrets.token_hex(4)}", secrets.token_urlsafe(24)
        stack.callback(drop_role, admin, role)  # after the database is gone (LIFO)
        database = stack.enter_context(throwaway_database(admin, prefix="npscsat_bench_dash"))
        engine = create_db_engine(database.url, application_name="npscsat-bench")
        try:
            run_migrate(
                engine,
                business_timezone="UTC",
                dashboard_role=role,
                dashboard_password=role_password,
            )
            end = now_utc()
            copy_rows(engine, responses_tsv(rows, 1, end=end, days=DAYS, seed=42), rollup=True)
            vacuum_analyze(engine)
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO app.users (username, display_name, password_hash) "
                        "VALUES (:u, 'Benchmark', :h)"
                    ),
                    {
                        "u": USERNAME,
                        "h": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
                    },
                )
            yield BenchDatabase(
                engine, database.url.set(username=role, password=role_password), end.date()
            )
        finally:
            engine.dispose()


def default_selection(last_day: date) -> ReportFilter:
    return ReportFilter(last_day - timedelta(days=89), last_day, channels=FILTER_CHANNELS)


# --- 1. the reads behind a filter change --------------------------------------------------------


@dataclass(frozen=True)
class FilterChange:
    rollup_ms: float
    pandas_ms: float
    rows_selected: int

    @property
    def speedup(self) -> float:
        return self.pandas_ms / self.rollup_ms


def measure_filter_change(bench: BenchDatabase) -> FilterChange:
    selection = default_selection(bench.last_day)
    dashboard = create_db_engine(bench.dashboard_url, application_name="npscsat-bench-ro")
    try:
        with dashboard.connect() as conn:
            rollup_s, overview = timed(fetch_overview, conn, selection, "week", repeat=21)
        with bench.engine.connect() as conn:
            pandas_s, in_pandas = timed(filter_change_in_pandas, conn, selection, repeat=3)
    finally:
        dashboard.dispose()
    # Both ways must agree before their times are compared.
    assert abs(overview.totals.nps - in_pandas[0]) < 1e-6, (overview.totals.nps, in_pandas)
    assert (len(overview.series), len(overview.by_channel)) == in_pandas[2:4]
    return FilterChange(rollup_s * 1000, pandas_s * 1000, in_pandas[4])


# --- 2. comments ---------------------------------------------------------------------------------


def measure_comments(bench: BenchDatabase) -> dict[str, float]:
    selection = ReportFilter(bench.last_day - timedelta(days=89), bench.last_day)
    dashboard = create_db_engine(bench.dashboard_url, application_name="npscsat-bench-ro")
    results = {}
    try:
        with dashboard.connect() as conn:
            for label, search in (
                (f"latest {COMMENTS_SHOWN}", None),
                ("search 'too long' (common)", "too long"),
                ("search 'zebra' (absent: scans the period)", "zebra"),
            ):
                seconds, _ = timed(
                    lambda s=search: reporting.fetch_comments(
                        conn, selection, search=s, limit=COMMENTS_SHOWN
                    ),
                    repeat=5,
                )
                results[label] = seconds * 1000
    finally:
        dashboard.dispose()
    return results


# --- 3. full page runs in AppTest ---------------------------------------------------------------


@contextlib.contextmanager
def dashboard_environment(bench: BenchDatabase) -> Iterator[dict[str, str]]:
    env = {
        "DASHBOARD_DATABASE_URL": bench.dashboard_url.render_as_string(hide_password=False),
        "AUTH_COOKIE_KEY": secrets.token_urlsafe(48),
        "APP_ENV": "prod",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def measure_app_test(bench: BenchDatabase, repeat: int = 5) -> dict[str, float]:
    """Medians in ms of whole script runs of the real app (no browser, no network)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    runs: dict[str, list[float]] = {"login + first page": [], "filter change": [], "rerun": []}
    with dashboard_environment(bench):
        for attempt in range(repeat):
            st.cache_data.clear()
            at = AppTest.from_file(str(APP_PATH), default_timeout=120).run()
            at.text_input(key="login_username").input(USERNAME)
            at.text_input(key="login_password").input(PASSWORD)
            started = time.perf_counter()
            at.button(key="login_submit").click().run()
            runs["login + first page"].append(time.perf_counter() - started)
            assert not at.exception and len(at.metric) == 5, "the page did not render"

            start = bench.last_day - timedelta(days=30 + attempt)  # a selection not yet cached
            started = time.perf_counter()
            at.date_input(key="filter_dates").set_value((start, bench.last_day)).run()
            runs["filter change"].append(time.perf_counter() - started)

            started = time.perf_counter()
            at.run()
            runs["rerun"].append(time.perf_counter() - started)
    return {label: statistics.median(values) * 1000 for label, values in runs.items()}


# --- 4. page load in a browser -------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(script: Path, env: dict[str, str]) -> Iterator[str]:
    import urllib.request

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{script.name} did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def _load_ms(context, url: str, ready) -> float:
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url)
    ready(page)
    elapsed = time.perf_counter() - started
    page.close()
    return elapsed * 1000


def _filter_change_ms(context, url: str, charts_ready, repeat: int) -> list[float]:
    """Click "Group by" to another granularity and wait until the page shows it, redrawn."""
    page = context.new_page()
    page.goto(url)
    charts_ready(page)
    times = []
    for index in range(repeat * 2):
        label, noun = [("Month", "per month"), ("ISO week", "per ISO week")][index % 2]
        started = time.perf_counter()
        page.get_by_role("radio", name=label, exact=True).click()
        page.get_by_text(noun, exact=False).first.wait_for()
        charts_ready(page)
        times.append((time.perf_counter() - started) * 1000)
    page.close()
    return times


def measure_browser(bench: BenchDatabase, repeat: int = 5) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    def hello_ready(page):
        page.get_by_text("hello", exact=True).wait_for()

    def login_ready(page):
        page.get_by_role("textbox", name="Username").wait_for()

    def charts_ready(page):
        page.get_by_role("heading", name="CSAT per period").wait_for()
        page.wait_for_function(
            "document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 5"
        )

    results: dict[str, list[float]] = {
        "bare hello page": [],
        "login page": [],
        "dashboard": [],
        "filter change": [],
    }
    with tempfile.TemporaryDirectory() as tmp, dashboard_environment(bench) as env:
        hello = Path(tmp) / "hello.py"
        hello.write_text('import streamlit as st\n\nst.write("hello")\n')
        with (
            streamlit_server(hello, {}) as hello_url,
            streamlit_server(APP_PATH, env) as app_url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
            fresh.set_default_timeout(60_000)
            signed_in = browser.new_context(viewport={"width": 1400, "height": 1000})
            signed_in.set_default_timeout(60_000)
            page = signed_in.new_page()  # log in once: later loads use the remember-me cookie
            page.goto(app_url)
            page.get_by_role("textbox", name="Username").fill(USERNAME)
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            charts_ready(page)
            deadline = time.monotonic() + 15
            while not [c for c in signed_in.cookies() if c["name"] == "npscsat_auth"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the remember-me cookie was never written")
                page.wait_for_timeout(200)
            page.close()
            _load_ms(fresh, hello_url, hello_ready)  # warm-up: JS bundle in the browser cache
            _load_ms(signed_in, app_url, charts_ready)
            for _ in range(repeat):
                results["bare hello page"].append(_load_ms(fresh, hello_url, hello_ready))
                results["login page"].append(_load_ms(fresh, app_url, login_ready))
                results["dashboard"].append(_load_ms(signed_in, app_url, charts_ready))
            results["filter change"] = _filter_change_ms(signed_in, app_url, charts_ready, repeat)
            browser.close()
    return {label: statistics.median(values) for label, values in results.items()}


# --- report ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timings")
    args = parser.parse_args()
    report: dict = {"rows": args.rows}
    print(f"loading {args.rows:,} synthetic responses over {DAYS} days ...", flush=True)
    with bench_database(args.rows) as bench:
        change = measure_filter_change(bench)
        report["filter_change"] = change.__dict__ | {"speedup": change.speedup}
        print(
            f"\n1. one filter change (last 90 days, channels {', '.join(FILTER_CHANNELS)}; KPIs, "
            "previous-period KPIs, weekly series, per-channel totals)"
        )
        print(f"   rollup (dashboard role)  {change.rollup_ms:9.2f} ms")
        print(
            f"   pandas (load + compute)  {change.pandas_ms:9.1f} ms  "
            f"({change.rows_selected:,} rows selected)"
        )
        verdict = "ok" if change.speedup >= BAR_SPEEDUP else "BELOW THE BAR"
        print(
            f"   speed-up                 {change.speedup:9.0f}x  "
            f"(bar: >= {BAR_SPEEDUP}x, {verdict})"
        )

        comments = measure_comments(bench)
        report["comments_ms"] = comments
        print("\n2. comment list (90 days, all channels; the one raw-row read)")
        for label, ms in comments.items():
            print(f"   {label:<44} {ms:8.2f} ms")

        page = measure_app_test(bench)
        report["app_test_ms"] = page
        print(f"\n3. full page runs of dashboard/app.py in AppTest at {args.rows:,} responses")
        for label, ms in page.items():
            print(f"   {label:<22} {ms:8.0f} ms")

        if not args.no_browser:
            loads = measure_browser(bench)
            report["browser_ms"] = loads
            print("\n4. page load in Chromium (median of 5, from goto to ready)")
            print(f"   bare 'hello' Streamlit page       {loads['bare hello page']:8.0f} ms")
            print(f"   dashboard login page              {loads['login page']:8.0f} ms")
            print(f"   dashboard, logged in, all charts  {loads['dashboard']:8.0f} ms")
            print(f"   filter change (group by), redrawn {loads['filter change']:8.0f} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nfigures written to {RESULTS.relative_to(REPO)}")
    if change.speedup < BAR_SPEEDUP:
        sys.exit(1)


if __name__ == "__main__":
    main()
