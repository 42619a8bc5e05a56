"""Connected as the dashboard's role, the database can be read where needed and never written."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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
    message = refused(seeded.dashboard_engine, "CREATE TEMP TABLE scratch (id int)")
    assert "read-only transaction" in message


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
        "SELECT reporting.rebuild_daily_rollup()",
        "SELECT reporting.set_business_timezone('UTC')",
        "CREATE TABLE reporting.sneaky (id int)",
        "CREATE TABLE public.sneaky (id int)",
    ],
)
def test_raw_tables_and_maintenance_functions_are_out_of_reach(seeded, statement):
    message = refused(seeded.dashboard_engine, statement)
    assert "permission denied" in message or "read-only transaction" in message


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
