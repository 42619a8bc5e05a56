"""Connected as the survey's role, the database offers three narrow functions and nothing else:
no table can be read or written, and each function refuses unbounded input."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.foundation.catalog import (
    SURVEY_FUNCTIONS,
    SURVEY_ROLE_SETTINGS,
    dashboard_role_facts,
    readable_relations,
)
from tests.foundation.test_dashboard_role import relations, writable_column
from tests.foundation.test_schema_constraints import insert_response, insert_user


@pytest.fixture
def seeded(db):
    with db.engine.begin() as conn:
        insert_response(conn)
        insert_user(conn)
    return db


def refused(engine, statement: str) -> str:
    with pytest.raises(DBAPIError) as error, engine.begin() as conn:
        conn.execute(text(statement))
    return str(error.value.orig)


def test_the_catalog_shows_no_table_privilege_at_all(seeded):
    facts = dashboard_role_facts(seeded.engine, seeded.survey_role)
    assert facts.writable_relations == []
    assert readable_relations(seeded.engine, seeded.survey_role) == []
    assert facts.database_privileges == {"CONNECT": True, "CREATE": False, "TEMPORARY": False}
    assert facts.creatable_schemas == []
    assert facts.settings == SURVEY_ROLE_SETTINGS
    assert facts.security_definer_functions == SURVEY_FUNCTIONS


def test_the_dashboard_role_cannot_call_the_survey_functions(seeded):
    facts = dashboard_role_facts(seeded.engine, seeded.dashboard_role)
    assert not facts.security_definer_functions & SURVEY_FUNCTIONS


def test_every_read_and_write_of_every_table_and_view_is_refused(seeded):
    with seeded.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.survey_invitation (external_id, channel, customer_type, "
                "expires_at) VALUES ('T-1', 'chat', 'individual', now() + interval '1 day')"
            )
        )
    with seeded.engine.connect() as conn:
        targets = relations(conn, ("r", "v", "p"))
    assert {"app.survey_response", "app.users", "app.survey_invitation"} <= set(targets)
    for target in targets:
        column = writable_column(seeded, target)
        for statement in (
            f"SELECT * FROM {target} LIMIT 1",
            f"INSERT INTO {target} DEFAULT VALUES",
            f"UPDATE {target} SET {column} = {column}",
            f"DELETE FROM {target}",
            f"TRUNCATE {target}",
        ):
            message = refused(seeded.survey_engine, statement)
            assert "permission denied" in message, (statement, message)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT username, password_hash FROM app.users",
        "SELECT comment FROM app.survey_response",
        "SELECT * FROM reporting.comment_list",
        "SELECT * FROM reporting.daily_rollup",
        "SELECT * FROM app.login_lock('alice', NULL)",
        "SELECT app.add_code('channel', 'sneaky', 'Sneaky')",
        "SELECT app.login_rule_checked(1, 'x', 0, 2)",
        "SELECT reporting.rebuild_invitation_rollup()",
        "CREATE TEMP TABLE scratch (id int)",
        "CREATE TABLE app.sneaky (id int)",
        "CREATE TABLE public.sneaky (id int)",
    ],
)
def test_other_responses_users_and_maintenance_are_out_of_reach(seeded, statement):
    assert "permission denied" in refused(seeded.survey_engine, statement)


NOWHERE = uuid.UUID(int=0)


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (f"app.survey_invitation_state('{NOWHERE}', 0)", "edit hours must be between 1 and 8760"),
        (f"app.survey_invitation_state('{NOWHERE}', 100000)", "edit hours must be between"),
        ("app.survey_invitation_state(NULL, 24)", "the invitation id is required"),
        (f"app.survey_count_request('not-an-address', '{NOWHERE}', 5, 5, 60)", "cidr"),
        (f"app.survey_count_request(repeat('1', 65), '{NOWHERE}', 5, 5, 60)", "at most 64"),
        (f"app.survey_count_request(NULL, '{NOWHERE}', 0, 5, 60)", "max requests per address"),
        (f"app.survey_count_request(NULL, '{NOWHERE}', 5, 5, 999999)", "window must be between"),
        (f"app.survey_record_answer('{NOWHERE}', 11, NULL, NULL, false, false, 24)", "NPS score"),
        (f"app.survey_record_answer('{NOWHERE}', NULL, 0, NULL, false, false, 24)", "CSAT score"),
        (
            f"app.survey_record_answer('{NOWHERE}', NULL, NULL, 'x', false, false, 24)",
            "an answer needs an NPS or a CSAT score",
        ),
        (
            f"app.survey_record_answer('{NOWHERE}', 5, NULL, repeat('x', 1001), false, false, 24)",
            "at most 1000 characters",
        ),
        (f"app.survey_record_answer('{NOWHERE}', 5, NULL, NULL, NULL, false, 24)", "flags"),
    ],
)
def test_the_survey_functions_refuse_unbounded_input(seeded, call, problem):
    assert problem in refused(seeded.survey_engine, f"SELECT * FROM {call}")


def test_an_unknown_invitation_reads_and_records_nothing(seeded):
    with seeded.survey_engine.begin() as conn:
        state = conn.execute(
            text("SELECT * FROM app.survey_invitation_state(:i, 24)"), {"i": NOWHERE}
        ).all()
        outcome = conn.execute(
            text("SELECT outcome FROM app.survey_record_answer(:i, 5, 4, 'x', false, false, 24)"),
            {"i": NOWHERE},
        ).scalar_one()
    assert state == [] and outcome == "unknown"


def test_the_state_function_returns_only_the_invitations_own_answer(seeded):
    with seeded.engine.begin() as conn:  # seeded holds a user and a generated response
        mine = conn.execute(
            text(
                "INSERT INTO app.survey_invitation (external_id, channel, customer_type, "
                "expires_at) VALUES ('mine', 'chat', 'individual', now() + interval '1 day') "
                "RETURNING id"
            )
        ).scalar_one()
    with seeded.survey_engine.begin() as conn:
        before = conn.execute(
            text("SELECT nps_score, comment FROM app.survey_invitation_state(:i, 24)"), {"i": mine}
        ).one()
        conn.execute(
            text("SELECT * FROM app.survey_record_answer(:i, 7, NULL, 'ok', false, false, 24)"),
            {"i": mine},
        )
        after = conn.execute(
            text("SELECT nps_score, comment FROM app.survey_invitation_state(:i, 24)"), {"i": mine}
        ).one()
    assert tuple(before) == (None, None) and tuple(after) == (7, "ok")
