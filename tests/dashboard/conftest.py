"""Fixtures of the dashboard tests: synthetic rows written with the owner engine, the app's
environment, fresh Streamlit caches, and a log of every SQL statement the app sends."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
import streamlit as st
from sqlalchemy import Engine, event, text
from streamlit.testing.v1 import AppTest

from testkit.browser import CHROMIUM, CHROMIUM_ARGS

APP_PATH = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
CHANNELS = ("phone", "email", "chat", "whatsapp", "self_service")
CUSTOMER_TYPES = ("individual", "small_business", "enterprise")
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Response:
    responded_at: datetime
    channel: str = "chat"
    customer_type: str = "individual"
    nps_score: int | None = 9
    csat_score: int | None = 5
    comment: str | None = None
    sentiment: str | None = None
    source: str = "generated"
    external_id: str | None = None  # required for every source but "generated"


def insert_responses(engine: Engine, responses: Sequence[Response]) -> None:
    """One multi-row INSERT statement: the rollup trigger fires once, as for the job's loads."""
    if not responses:
        return
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, "
                "nps_score, csat_score, comment, sentiment, source, external_id) VALUES "
                "(:responded_at, :channel, :customer_type, :nps_score, :csat_score, :comment, "
                ":sentiment, :source, :external_id)"
            ),
            [r.__dict__ for r in responses],
        )


def synthetic_responses(
    count: int, *, last_day: date, days: int, seed: int = 7, source: str = "generated"
) -> list[Response]:
    """Deterministic, varied responses spread over `days` days ending on `last_day` (UTC noon);
    for a source other than "generated", each with an external id."""
    rng = random.Random(seed)
    responses = []
    for i in range(count):
        day = last_day - timedelta(days=i % days)
        responses.append(
            Response(
                responded_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
                - timedelta(minutes=rng.randrange(600)),
                channel=CHANNELS[rng.randrange(len(CHANNELS))],
                customer_type=CUSTOMER_TYPES[rng.randrange(len(CUSTOMER_TYPES))],
                nps_score=rng.randrange(11),
                csat_score=rng.choice([None, 1, 2, 3, 4, 5, 5, 4]),
                comment=f"Synthetic comment number {i}." if i % 3 == 0 else None,
                sentiment=rng.choice([None, "positive", "neutral", "negative"]),
                source=source,
                external_id=None if source == "generated" else f"{source}-{seed}-{i}",
            )
        )
    return responses


def insert_user(
    engine: Engine,
    username: str = "alice",
    password: str = PASSWORD,
    *,
    display_name: str = "Alice Example",
    is_active: bool = True,
) -> None:
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()  # fast rounds
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.users (username, display_name, email, password_hash, is_active) "
                "VALUES (:u, :d, :e, :h, :a)"
            ),
            {
                "u": username,
                "d": display_name,
                "e": f"{username}@example.com",
                "h": password_hash,
                "a": is_active,
            },
        )


def clear_streamlit_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_env(db, monkeypatch) -> Iterator[None]:
    """The dashboard's environment pointed at the test database's read-only role."""
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", db.dashboard_url.render_as_string(False))
    monkeypatch.setenv("AUTH_COOKIE_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("APP_ENV", "prod")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.delenv("DASHBOARD_TIMEZONE", raising=False)
    for name in ("AUTH_MAX_ATTEMPTS", "AUTH_LOCKOUT_SECONDS", "DASHBOARD_MIN_SAMPLE"):
        monkeypatch.delenv(name, raising=False)
    clear_streamlit_caches()
    yield
    clear_streamlit_caches()


def new_session() -> AppTest:
    """A fresh browser session of the app (same process: process-wide stores are shared)."""
    return AppTest.from_file(APP_PATH, default_timeout=60)


def log_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    return at.button(key="login_submit").click().run()


@pytest.fixture
def sql_log() -> Iterator[list[str]]:
    """Every SQL statement sent by any engine while the test runs."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield statements
    event.remove(Engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get update && "
            "apt-get install -y chromium); the browser tests never download a browser."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
