#!/usr/bin/env python3
"""Logs in to a running compose stack's dashboard with a real browser, as a reviewer would.

    uv run python scripts/smoke_login.py [--url http://127.0.0.1:8501]

The demo login is read from `docker compose config` (the job's DASHBOARD_ADMIN_* variables),
so it is written down in one place only: compose.override.yaml. Checks that the login form
appears, that the demo user reaches the page with both charts, and that logging out returns to
the form. Chromium is Debian's (CHROMIUM_PATH, default /usr/bin/chromium); nothing is
downloaded. Exit code 0 on success, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


def demo_login() -> tuple[str, str]:
    config = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],  # noqa: S607 - the user's docker
        capture_output=True,
        text=True,
        check=True,
    )
    job = json.loads(config.stdout)["services"]["job"]["environment"]
    return job["DASHBOARD_ADMIN_USERNAME"], job["DASHBOARD_ADMIN_PASSWORD"]


def check_login(url: str, username: str, password: str, chromium: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="NPS per period").wait_for()
        page.get_by_role("heading", name="CSAT per period").wait_for()
        print(f"logged in as {username}: both charts shown")
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("textbox", name="Username").wait_for()
        print("logged out: back at the login form")
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8501")
    args = parser.parse_args()
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    try:
        username, password = demo_login()
        check_login(args.url, username, password, chromium)
    except (subprocess.CalledProcessError, KeyError) as exc:
        print(f"cannot read the demo login from `docker compose config`: {exc}", file=sys.stderr)
        return 1
    except PlaywrightError as exc:
        print(
            f"dashboard login failed at {args.url}: {exc.message.splitlines()[0]}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
