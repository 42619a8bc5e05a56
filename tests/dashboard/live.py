"""The dashboard served for real (`streamlit run dashboard/app.py` in a subprocess) and the
browser steps the browser tests share. Debian's Chromium only: no browser is ever downloaded."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from testkit.ports import free_port
from tests.dashboard.conftest import APP_PATH

REPO = Path(APP_PATH).parents[1]
COOKIE_NAME = "npscsat_auth"
TIMEOUT_MS = 30_000


def dashboard_env(migrated_db, **overrides: str) -> dict[str, str]:
    """The environment of a dashboard process on the test database (one cookie key per call:
    give replicas the same environment)."""
    return {
        **os.environ,
        "DASHBOARD_DATABASE_URL": migrated_db.dashboard_url.render_as_string(False),
        "AUTH_COOKIE_KEY": secrets.token_urlsafe(48),
        "APP_ENV": "prod",
        "AUTH_COOKIE_NAME": COOKIE_NAME,
        "LOG_FORMAT": "json",
        **overrides,
    }


def wait_healthy(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not become healthy:\n{log_path.read_text()}")


@contextlib.contextmanager
def serve_dashboard(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """One dashboard process on 127.0.0.1; yields its URL and stops it afterwards."""
    port = port or free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "streamlit.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    APP_PATH,
                    "--server.port",
                    str(port),
                    "--server.address",
                    "127.0.0.1",
                ],
                cwd=REPO,  # as in the image: .streamlit/config.toml is read from here
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server, log_path)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=20)


def new_page(browser, **context_options):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def open_app(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="Username").wait_for()


def log_in(page, username: str, password: str) -> None:
    page.get_by_role("textbox", name="Username").fill(username)
    # get_by_label("Password") would also match the show-password button
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def auth_cookies(context) -> list[dict]:
    return [c for c in context.cookies() if c["name"] == COOKIE_NAME]


def wait_for_cookie(page, present: bool) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if bool(auth_cookies(page.context)) == present:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"the {COOKIE_NAME} cookie was {'not ' if present else ''}written")
