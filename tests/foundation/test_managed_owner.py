"""Migrate as a managed PostgreSQL's owner (RDS, Cloud SQL, Azure): a role with CREATEDB and
CREATEROLE, not SUPERUSER, that creates its own database and migrates it from scratch."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy import text
from sqlalchemy.engine import URL

from jobs.migrate import READER_GROUP_ROLE, SURVEY_GROUP_ROLE, MigrationError, run_migrate
from npscsat.db import create_db_engine
from testkit.pg import admin_execute, connect_kwargs, drop_role
from tests.foundation.catalog import (
    LOGIN_FUNCTIONS,
    ROLE_SETTINGS,
    SURVEY_FUNCTIONS,
    SURVEY_ROLE_SETTINGS,
    dashboard_role_facts,
    readable_relations,
)


@dataclass(frozen=True)
class ManagedDatabase:
    owner_url: URL
    owner: str
    dashboard_role: str
    survey_role: str


def server_version(admin_url: URL) -> int:
    conn = psycopg2.connect(**connect_kwargs(admin_url))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def managed(pg_admin_url) -> Iterator[ManagedDatabase]:
    """A CREATEDB CREATEROLE owner (unique name: roles are server-wide) and the database it
    created itself; dropped afterwards with the roles it made."""
    suffix = secrets.token_hex(4)
    owner, dashboard_role = f"npscsat_owner_{suffix}", f"npscsat_dash_{suffix}"
    survey_role = f"npscsat_survey_{suffix}"
    password = secrets.token_urlsafe(18)
    admin_execute(
        pg_admin_url,
        sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
            sql.Identifier(owner), sql.Literal(password)
        ),
    )
    # The group role is server-wide and another database's migrate has usually created it on
    # this shared server already. On a fresh managed server the owner creates it and so holds
    # ADMIN OPTION on it (PostgreSQL 16+); give it that, as such an owner would have it.
    admin_execute(
        pg_admin_url,
        sql.SQL(
            "DO $$ DECLARE g text; BEGIN FOREACH g IN ARRAY ARRAY[{groups}] LOOP "
            "IF EXISTS (SELECT FROM pg_roles WHERE rolname = g) THEN "
            "EXECUTE format('GRANT %I TO %I WITH ADMIN OPTION', g, {owner}); "
            "END IF; END LOOP; END $$"
        ).format(
            groups=sql.SQL(", ").join(
                [sql.Literal(READER_GROUP_ROLE), sql.Literal(SURVEY_GROUP_ROLE)]
            ),
            owner=sql.Literal(owner),
        ),
    )
    database = f"npscsat_managed_{suffix}"
    as_owner = pg_admin_url.set(drivername="postgresql", username=owner, password=password)
    conn = psycopg2.connect(**connect_kwargs(as_owner))
    conn.autocommit = True
    with conn.cursor() as cur:  # the owner creates its database: it owns it, as on RDS
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    conn.close()
    try:
        yield ManagedDatabase(as_owner.set(database=database), owner, dashboard_role, survey_role)
    finally:
        admin_execute(
            pg_admin_url,
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)),
        )
        drop_role(pg_admin_url, dashboard_role)
        drop_role(pg_admin_url, survey_role)
        drop_role(pg_admin_url, owner)


def migrate_as_owner(managed: ManagedDatabase, password: str = "dashboard-password-1") -> None:
    engine = create_db_engine(managed.owner_url, application_name="npscsat-tests-owner")
    try:
        run_migrate(
            engine,
            business_timezone="Europe/Lisbon",
            dashboard_role=managed.dashboard_role,
            dashboard_password=password,
            survey_role=managed.survey_role,
            survey_password="survey-" + password,
        )
    finally:
        engine.dispose()


def test_a_non_superuser_owner_migrates_from_scratch(managed, pg_admin_url):
    owner_engine = create_db_engine(managed.owner_url, application_name="npscsat-tests-owner")
    with owner_engine.connect() as conn:
        attributes = conn.execute(
            text("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = :r"),
            {"r": managed.owner},
        ).one()
    assert tuple(attributes) == (False, True, True)

    migrate_as_owner(managed)
    migrate_as_owner(managed, password="dashboard-password-2")  # again: idempotent, new password

    facts = dashboard_role_facts(owner_engine, managed.dashboard_role)
    assert facts.writable_relations == []
    assert facts.database_privileges == {"CONNECT": True, "CREATE": False, "TEMPORARY": False}
    assert facts.creatable_schemas == []
    assert facts.settings == ROLE_SETTINGS
    assert facts.security_definer_functions == LOGIN_FUNCTIONS
    survey = dashboard_role_facts(owner_engine, managed.survey_role)
    assert survey.writable_relations == []
    assert readable_relations(owner_engine, managed.survey_role) == []
    assert survey.database_privileges == {"CONNECT": True, "CREATE": False, "TEMPORARY": False}
    assert survey.settings == SURVEY_ROLE_SETTINGS
    assert survey.security_definer_functions == SURVEY_FUNCTIONS
    survey_engine = create_db_engine(
        managed.owner_url.set(username=managed.survey_role, password="survey-dashboard-password-2"),
        application_name="npscsat-tests-survey",
    )
    try:  # the survey's role logs in with the new password and calls its functions
        with survey_engine.begin() as conn:
            limited = conn.execute(
                text(
                    "SELECT limited_by FROM app.survey_count_request(NULL, "
                    "gen_random_uuid(), 5, 5, 60)"
                )
            ).scalar_one()
        assert limited is None
    finally:
        survey_engine.dispose()

    # The dashboard's role logs in with the new password, reads, and records a login through
    # the functions the non-superuser owner defined.
    dashboard_url = managed.owner_url.set(
        username=managed.dashboard_role, password="dashboard-password-2"
    )
    dashboard_engine = create_db_engine(dashboard_url, application_name="npscsat-tests-ro")
    try:
        with dashboard_engine.connect() as conn:
            zone = conn.execute(text("SELECT business_timezone FROM reporting.data_status"))
            assert zone.scalar_one() == "Europe/Lisbon"
        with dashboard_engine.begin() as conn:
            conn.execute(text("SET TRANSACTION READ WRITE"))
            row = conn.execute(
                text("SELECT * FROM app.record_login_failure('alice', NULL, 5, 20, 60, 60)")
            ).one()
        assert row.attempts_left == 4
    finally:
        dashboard_engine.dispose()
        owner_engine.dispose()


def test_a_dashboard_role_the_owner_may_not_manage_is_named_with_what_to_do(managed, pg_admin_url):
    # Made by someone else (here the superuser): from PostgreSQL 16 on, a CREATEROLE owner may
    # alter only roles it holds ADMIN OPTION on.
    admin_execute(
        pg_admin_url,
        sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(managed.dashboard_role)),
    )
    if server_version(pg_admin_url) < 160000:
        migrate_as_owner(managed)  # PostgreSQL 15: CREATEROLE alone may manage it
        return
    with pytest.raises(MigrationError) as refused:
        migrate_as_owner(managed)
    message = str(refused.value)
    assert f"may not set up the dashboard role '{managed.dashboard_role}'" in message
    assert "ADMIN OPTION" in message and "docs/database.md" in message


def test_a_privileged_dashboard_role_is_refused_not_altered(managed, pg_admin_url):
    admin_execute(
        pg_admin_url,
        sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(managed.dashboard_role)),
    )
    with pytest.raises(MigrationError, match="is a privileged role"):
        migrate_as_owner(managed)
