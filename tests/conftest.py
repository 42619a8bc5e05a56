"""Shared fixtures: a migrated throwaway database per test session (see testkit/pg.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from jobs.migrate import run_migrate
from npscsat.db import create_db_engine
from testkit.pg import admin_server, drop_role, throwaway_database


@dataclass(frozen=True)
class MigratedDatabase:
    url: URL  # owner
    dashboard_url: URL  # the read-only login role
    dashboard_role: str
    engine: Engine  # owner engine
    dashboard_engine: Engine
    survey_url: URL  # the survey's login role: its three functions, no table
    survey_role: str
    survey_engine: Engine


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[URL]:
    with admin_server() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_db(pg_admin_url: URL) -> Iterator[MigratedDatabase]:
    """One database for the session with every migration applied, a dashboard role and a
    survey role (unique names: roles are server-wide)."""
    suffix = secrets.token_hex(4)
    role, survey_role = f"npscsat_dash_{suffix}", f"npscsat_survey_{suffix}"
    password, survey_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with throwaway_database(pg_admin_url) as database:
        engine = create_db_engine(database.url, application_name="npscsat-tests")
        run_migrate(
            engine,
            business_timezone="UTC",
            dashboard_role=role,
            dashboard_password=password,
            survey_role=survey_role,
            survey_password=survey_password,
        )
        dashboard_url = database.url.set(username=role, password=password)
        dashboard_engine = create_db_engine(dashboard_url, application_name="npscsat-tests-ro")
        survey_url = database.url.set(username=survey_role, password=survey_password)
        survey_engine = create_db_engine(survey_url, application_name="npscsat-tests-survey")
        try:
            yield MigratedDatabase(
                database.url,
                dashboard_url,
                role,
                engine,
                dashboard_engine,
                survey_url,
                survey_role,
                survey_engine,
            )
        finally:
            survey_engine.dispose()
            dashboard_engine.dispose()
            engine.dispose()
    drop_role(pg_admin_url, role)
    drop_role(pg_admin_url, survey_role)


def reset_data(engine: Engine, business_timezone: str = "UTC") -> None:
    """Empties every data table (the rollup follows through its TRUNCATE trigger), login state
    included."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE app.survey_response, app.users, app.job_run, app.import_run, "
                "app.generation_window, app.login_session, app.login_failure, app.login_lockout, "
                "app.survey_invitation, app.survey_rate"
            )
        )
        conn.execute(
            text("SELECT reporting.set_business_timezone(:zone)"), {"zone": business_timezone}
        )


@pytest.fixture
def db(migrated_db: MigratedDatabase) -> MigratedDatabase:
    """The session database, emptied before the test."""
    reset_data(migrated_db.engine)
    return migrated_db


@pytest.fixture
def empty_database(pg_admin_url: URL):
    """A fresh database with nothing applied, dropped after the test."""
    with throwaway_database(pg_admin_url, prefix="npscsat_empty") as database:
        yield database
