"""Fixtures of the survey tests: invitations written with the owner engine, the survey app on
the test database's survey role (Starlette's TestClient, or a real `python -m survey`
process), and reading a rendered form."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from npscsat.config import load_settings
from survey.app import create_app
from survey.config import SurveySettings
from testkit.ports import free_port
from tests.dashboard.conftest import browser  # noqa: F401 - the Chromium fixture, shared

REPO = Path(__file__).resolve().parents[2]
SIGNING_KEY = secrets.token_urlsafe(48)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def invite(
    engine: Engine,
    external_id: str = "T-1",
    *,
    channel: str = "chat",
    customer_type: str = "individual",
    locale: str | None = None,
    expires_in: timedelta = timedelta(days=30),
) -> uuid.UUID:
    with engine.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO app.survey_invitation (external_id, channel, customer_type, locale, "
                "invited_at, expires_at) VALUES (:e, :c, :t, :l, :at, :exp) RETURNING id"
            ),
            {
                "e": external_id,
                "c": channel,
                "t": customer_type,
                "l": locale,
                "at": datetime.now(UTC) - timedelta(days=1),
                "exp": datetime.now(UTC) - timedelta(days=1) + expires_in,
            },
        ).scalar_one()


def answers(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT external_id, source, nps_score, csat_score, comment, suspected_bot, "
                "responded_at FROM app.survey_response WHERE source = 'survey' ORDER BY 1"
            )
        ).all()


def survey_settings(db, **overrides) -> SurveySettings:
    values = {
        "survey_database_url": db.survey_url.render_as_string(False),
        "survey_signing_key": SIGNING_KEY,
        "app_env": "prod",
        "survey_public_url": "http://testserver",
        "survey_min_submit_seconds": 0,
        **overrides,
    }
    return load_settings(SurveySettings, **values)


@dataclass
class SurveyClient:
    client: TestClient
    settings: SurveySettings

    def link(self, invitation: uuid.UUID, score: int | None = None) -> str:
        return self.settings.links.link(invitation, score).removeprefix("http://testserver")

    def path(self, invitation: uuid.UUID) -> str:
        return self.link(invitation)

    def form(self, invitation: uuid.UUID, score: int | None = None, **headers) -> str:
        """GETs the page and returns its CSRF token."""
        page = self.client.get(self.link(invitation, score), headers=headers)
        assert page.status_code == 200, page.text
        return CSRF.search(page.text).group(1)

    def answer(self, invitation: uuid.UUID, *, headers=None, **fields):
        data = {"csrf_token": self.form(invitation), "website": "", **fields}
        return self.client.post(
            self.path(invitation), data=data, headers=headers or {}, follow_redirects=False
        )


@pytest.fixture
def survey_client(db) -> Iterator[SurveyClient]:
    settings = survey_settings(db)
    with TestClient(create_app(settings, db.survey_engine), client=("203.0.113.10", 50000)) as c:
        yield SurveyClient(c, settings)


def make_client(db, address: str = "203.0.113.10", **overrides) -> SurveyClient:
    settings = survey_settings(db, **overrides)
    return SurveyClient(
        TestClient(create_app(settings, db.survey_engine), client=(address, 50000)), settings
    )


# --- a real survey process ----------------------------------------------------------------


def survey_env(db, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "SURVEY_DATABASE_URL": db.survey_url.render_as_string(False),
        "SURVEY_SIGNING_KEY": SIGNING_KEY,
        "APP_ENV": "prod",
        "LOG_FORMAT": "json",
        "SURVEY_HOST": "127.0.0.1",
        **overrides,
    }


@contextlib.contextmanager
def serve_survey(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """`python -m survey` on 127.0.0.1; yields its URL and stops it afterwards."""
    port = port or free_port()
    env = {**env, "SURVEY_PORT": str(port)}
    env.setdefault("SURVEY_PUBLIC_URL", f"http://127.0.0.1:{port}")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "survey.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "survey"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the survey exited early:\n{log_path.read_text()}")
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"the survey did not become healthy:\n{log_path.read_text()}"
                        ) from None
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=20)
