#!/usr/bin/env python3
"""Answers a survey on a running stack with a real browser, then finds the answer on the
dashboard, as a reviewer would.

    uv run python scripts/smoke_survey.py --link LINK [--survey-url URL] [--dashboard-url URL]

LINK is a survey link (the demo one the job logs: `docker compose logs job | grep
survey_demo_link`); --survey-url replaces its origin when the survey is published elsewhere
(CI's port). The browser opens the link with ?score=9, picks a CSAT rating, writes a comment,
sends, and must see the thank-you page; then it logs in to the dashboard (the demo login from
`docker compose config`, or --username / --password) and must see *Survey answers* among the
selected sources and at least one response in the figures. Chromium is Debian's
(CHROMIUM_PATH, default /usr/bin/chromium). Exit code 0 on success, 1 with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright


def _sibling(name: str):
    """A script next to this one (scripts/ is not a package): the browser flags and the demo
    login are smoke_login's, written once."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_login = _sibling("smoke_login")
CHROMIUM_ARGS, TIMEOUT_MS, demo_login = _login.CHROMIUM_ARGS, _login.TIMEOUT_MS, _login.demo_login

COMMENT = "Answered by the survey smoke test."


def page_link(link: str, survey_url: str | None, score: int) -> str:
    parts = urlsplit(link)
    if survey_url:
        base = urlsplit(survey_url)
        parts = parts._replace(scheme=base.scheme, netloc=base.netloc)
    return urlunsplit(parts._replace(query=f"score={score}"))


def answer_survey(page, link: str) -> None:
    page.goto(link)
    page.get_by_role("heading", level=1).wait_for()
    page.get_by_text("Very satisfied").click()
    page.get_by_label("Anything you would like to tell us? (optional)").fill(COMMENT)
    page.wait_for_timeout(2500)  # a person takes a moment; a bot would be flagged
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("heading", name="Thank you for your answer").wait_for()


def dashboard_responses(page, url: str, username: str, password: str) -> int:
    """Logs in and returns the Responses card of the default selection, which must include
    the survey's answers."""
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="NPS per period").wait_for()
    # The dashboard caches its reads for a minute: read the database again now.
    page.get_by_role("button", name=re.compile("Refresh data")).click()
    page.wait_for_timeout(1500)
    page.get_by_role("heading", name="NPS per period").wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Survey answers").first.wait_for()
    card = page.locator('[data-testid="stMetric"]', has_text="Responses").first
    value = card.locator('[data-testid="stMetricValue"]').inner_text()
    return int(value.replace(",", "").strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", required=True, help="a survey link, e.g. the demo one")
    parser.add_argument("--survey-url", help="where the survey is reachable (replaces the origin)")
    parser.add_argument("--dashboard-url", default="http://127.0.0.1:8501")
    parser.add_argument("--username")
    parser.add_argument("--password")
    args = parser.parse_args()
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    try:
        if args.username and args.password:
            username, password = args.username, args.password
        else:
            username, password = demo_login()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            answer_survey(page, page_link(args.link, args.survey_url, 9))
            print("survey answered: thank-you page shown")
            responses = dashboard_responses(page, args.dashboard_url, username, password)
            browser.close()
    except (subprocess.CalledProcessError, KeyError) as exc:
        print(f"cannot read the demo login from `docker compose config`: {exc}", file=sys.stderr)
        return 1
    except PlaywrightError as exc:
        print(f"survey smoke failed: {exc.message.splitlines()[0]}", file=sys.stderr)
        return 1
    if responses < 1:
        print("the dashboard shows no survey answer", file=sys.stderr)
        return 1
    print(f"dashboard: Survey answers selected, {responses} response(s) in the figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
