"""Connected as the dashboard's role, the database can be read where needed and never written."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.foundation.catalog import LOGIN_FUNCTIONS, ROLE_SETTINGS, dashboard_role_facts
from tests.foundation.test_schema_constraints import BCRYPT_HASH, insert_response, insert_user


def relations(conn, kinds: tuple[str, ...]) -> list[str]:
    return (
        conn.execute(
            text(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname IN ('app', 'reporting') AND c.relkind = ANY(:kinds) ORDER BY 1"
            ),
            {"kinds": list(kinds)},
        )
        .scalars()
        .all()
    )


@pytest.fixture
def seeded(db):
    with db.engine.begin() as conn:
        insert_response(conn)
        insert_user(conn)
    return db


def refused(engine, statement: str, read_write: bool = False) -> str:
    """Runs a statement as the given engine's role and returns PostgreSQL's refusal.
    With read_write, the role's read-only default is lifted so that privileges alone refuse."""
    with pytest.raises(DBAPIError) as error, engine.begin() as conn:
        if read_write:
            conn.execute(text("SET TRANSACTION READ WRITE"))
        conn.execute(text(statement))
    return str(error.value.orig)


# Aggregating views cannot be written by anyone; every other refusal must be a privilege one.
NOT_WRITABLE_BY_ANYONE = (
    "cannot insert into view",
    "cannot update view",
    "cannot delete from view",
    "is not a table",
)


def test_every_write_is_refused_on_every_table_and_view(seeded):
    with seeded.engine.connect() as conn:
        targets = relations(conn, ("r", "v", "p"))
    assert "app.survey_response" in targets and "reporting.daily_rollup" in targets
    for target in targets:
        column = writable_column(seeded, target)
        for statement in (
            f"INSERT INTO {target} DEFAULT VALUES",
            f"UPDATE {target} SET {column} = {column}",
            f"DELETE FROM {target}",
            f"TRUNCATE {target}",
        ):
            message = refused(seeded.dashboard_engine, statement, read_write=True)
            assert "permission denied" in message or any(
                reason in message for reason in NOT_WRITABLE_BY_ANYONE
            ), (
                statement,
                message,
            )


def writable_column(db, relation: str) -> str:
    schema, name = relation.split(".")
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :n AND is_identity = 'NO' "
                "AND is_generated = 'NEVER' ORDER BY ordinal_position DESC LIMIT 1"
            ),
            {"s": schema, "n": name},
        ).scalar_one()


def test_the_role_also_defaults_to_read_only_transactions(seeded):
    # A second fence behind the privileges.
    message = refused(seeded.dashboard_engine, "CREATE TABLE reporting.scratch (id int)")
    assert "read-only transaction" in message


def test_temporary_tables_are_refused_by_privilege_not_only_by_the_read_only_default(seeded):
    message = refused(seeded.dashboard_engine, "CREATE TEMP TABLE scratch (id int)", True)
    assert "permission denied to create temporary tables" in message


def test_the_role_carries_its_own_timeouts(seeded):
    with seeded.dashboard_engine.connect() as conn:
        shown = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in ROLE_SETTINGS}
    # Set on the role in this database by migrate, not by the app: any client of the role
    # (psql included) gets them.
    assert shown == {
        "default_transaction_read_only": "on",
        "statement_timeout": "15s",
        "lock_timeout": "5s",
        "idle_in_transaction_session_timeout": "1min",
    }


def test_the_reporting_layer_is_readable(seeded):
    with seeded.dashboard_engine.connect() as conn:
        for view in relations(conn, ("r", "v")):
            if view.startswith("reporting."):
                conn.execute(text(f"SELECT * FROM {view} LIMIT 1")).all()
        assert conn.execute(text("SELECT responses FROM reporting.data_status")).scalar() == 1
        # the source filter's list and the comments' source are readable
        assert conn.execute(text("SELECT source FROM reporting.response_source")).all() == [
            ("generated",)
        ]
        conn.execute(text("SELECT source FROM reporting.comment_list LIMIT 1")).all()
        assert (
            conn.execute(text("SELECT reporting.period_label('week', DATE '2026-11-30')")).scalar()
            == "2026-W49"
        )


def test_only_the_login_columns_of_users_are_readable(seeded):
    with seeded.dashboard_engine.connect() as conn:
        row = conn.execute(
            text("SELECT username, display_name, email, password_hash, is_active FROM app.users")
        ).one()
    assert row.password_hash == BCRYPT_HASH
    assert "permission denied" in refused(seeded.dashboard_engine, "SELECT * FROM app.users")
    assert "permission denied" in refused(
        seeded.dashboard_engine, "SELECT created_at FROM app.users"
    )


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM app.survey_response",
        "SELECT * FROM app.job_run",
        "SELECT * FROM app.schema_migration",
        "SELECT * FROM app.import_run",
        "SELECT app.add_code('channel', 'sneaky', 'Sneaky')",
        "SELECT * FROM app.login_session",
        "SELECT * FROM app.login_failure",
        "SELECT * FROM app.login_lockout",
        "SELECT app.end_sessions_of_changed_user()",
        "SELECT app.login_rule_checked(1, 'x', 0, 2)",
        "SELECT reporting.rebuild_daily_rollup()",
        "SELECT reporting.set_business_timezone('UTC')",
        "CREATE TABLE reporting.sneaky (id int)",
        "CREATE TABLE public.sneaky (id int)",
    ],
)
def test_raw_tables_and_maintenance_functions_are_out_of_reach(seeded, statement):
    message = refused(seeded.dashboard_engine, statement, read_write=True)
    assert "permission denied" in message


def test_the_catalog_shows_no_write_privilege_no_temp_and_its_own_timeouts(seeded):
    facts = dashboard_role_facts(seeded.engine, seeded.dashboard_role)
    assert facts.writable_relations == []
    assert facts.database_privileges == {"CONNECT": True, "CREATE": False, "TEMPORARY": False}
    assert facts.creatable_schemas == []
    assert facts.settings == ROLE_SETTINGS
    assert facts.security_definer_functions == LOGIN_FUNCTIONS


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        ("app.login_lock(repeat('a', 65), NULL)", "the username must be 1 to 64 characters"),
        ("app.login_lock('', NULL)", "the username must be 1 to 64 characters"),
        ("app.login_lock('alice', 'not-an-address')", "invalid input syntax for type cidr"),
        ("app.login_lock('alice', repeat('1', 65))", "at most 64 characters"),
        ("app.record_login_failure('alice', NULL, 0, 5, 60, 60)", "max failures must be between"),
        ("app.record_login_failure('alice', NULL, 5, 5, 60, 999999)", "lockout must be between"),
        ("app.record_login_success('alice', NULL, 10)", "session lifetime must be between"),
    ],
)
def test_the_login_functions_refuse_unbounded_input(seeded, call, problem):
    message = refused(seeded.dashboard_engine, f"SELECT * FROM {call}", read_write=True)
    assert problem in message


def test_the_role_has_no_privileged_attributes(seeded):
    with seeded.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin "
                "FROM pg_roles WHERE rolname = :r"
            ),
            {"r": seeded.dashboard_role},
        ).one()
    assert tuple(row) == (False, False, False, False, True)
