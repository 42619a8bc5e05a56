"""The database itself refuses bad rows: checks live in db/init, not only in Python."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

GOOD_RESPONSE = {
    "responded_at": "2026-11-30 10:00+00",
    "channel": "chat",
    "customer_type": "enterprise",
    "nps_score": 9,
    "csat_score": 5,
    "comment": "Quick and kind answer.",
    "sentiment": None,
    "generator_slot": None,
    "source": "generated",
    "external_id": None,
}
BCRYPT_HASH = "$2b$12$" + "a" * 53


def insert_response(conn, **overrides):
    row = {**GOOD_RESPONSE, **overrides}
    conn.execute(
        text(
            "INSERT INTO app.survey_response (responded_at, channel, customer_type, nps_score, "
            "csat_score, comment, sentiment, generator_slot, source, external_id) VALUES "
            "(:responded_at, :channel, :customer_type, :nps_score, :csat_score, :comment, "
            ":sentiment, :generator_slot, :source, :external_id)"
        ),
        row,
    )


def insert_user(conn, **overrides):
    row = {
        "username": "alice",
        "display_name": "Alice",
        "email": "alice@example.com",
        "password_hash": BCRYPT_HASH,
    } | overrides
    conn.execute(
        text(
            "INSERT INTO app.users (username, display_name, email, password_hash) "
            "VALUES (:username, :display_name, :email, :password_hash)"
        ),
        row,
    )


def test_a_good_response_is_accepted_and_categorised_by_the_database(db):
    with db.engine.begin() as conn:
        for score in (0, 6, 7, 8, 9, 10):
            insert_response(conn, nps_score=score, csat_score=None, comment=None)
        categories = dict(
            conn.execute(text("SELECT nps_score, nps_category FROM app.survey_response")).all()
        )
    assert categories == {
        0: "detractor",
        6: "detractor",
        7: "passive",
        8: "passive",
        9: "promoter",
        10: "promoter",
    }


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"nps_score": 11}, "survey_response_nps_range"),
        ({"nps_score": -1}, "survey_response_nps_range"),
        ({"csat_score": 0}, "survey_response_csat_range"),
        ({"csat_score": 6}, "survey_response_csat_range"),
        ({"channel": "carrier_pigeon"}, "channel_code_check"),
        ({"customer_type": "alien"}, "customer_type_code_check"),
        ({"responded_at": None}, "responded_at"),
        ({"nps_score": None, "csat_score": None}, "survey_response_has_a_score"),
        ({"comment": ""}, "survey_response_comment_length"),
        ({"comment": "x" * 1001}, "survey_response_comment_length"),
        ({"sentiment": "ecstatic"}, "survey_response_sentiment_value"),
        ({"generator_slot": 0}, "survey_response_generator_slot_positive"),
        ({"source": "zendesk", "external_id": "1"}, "survey_response_source_format"),
        ({"source": "import:Zendesk CSAT", "external_id": "1"}, "survey_response_source_format"),
        ({"source": "import:zendesk"}, "survey_response_external_id_by_source"),
        ({"external_id": "T-1"}, "survey_response_external_id_by_source"),
        ({"source": "survey", "external_id": ""}, "survey_response_external_id_length"),
        (
            {"source": "survey", "external_id": "x" * 201},
            "survey_response_external_id_length",
        ),
        (
            {"source": "import:zendesk", "external_id": "1", "generator_slot": 3},
            "survey_response_generator_slot_source",
        ),
    ],
)
def test_the_database_refuses_a_bad_response(db, overrides, constraint):
    with pytest.raises(IntegrityError) as refused, db.engine.begin() as conn:
        insert_response(conn, **overrides)
    assert constraint in str(refused.value.orig)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app.survey_response")).scalar() == 0


def test_a_response_may_answer_nps_or_csat_alone_and_has_no_category_without_nps(db):
    with db.engine.begin() as conn:
        insert_response(conn, nps_score=None, csat_score=2, source="survey", external_id="i-1")
        insert_response(conn, nps_score=4, csat_score=None, source="survey", external_id="i-2")
        rows = conn.execute(
            text("SELECT external_id, nps_category FROM app.survey_response ORDER BY 1")
        ).all()
    assert [tuple(r) for r in rows] == [("i-1", None), ("i-2", "detractor")]


def test_source_and_external_id_are_a_natural_key(db):
    with db.engine.begin() as conn:
        insert_response(conn, source="import:zendesk", external_id="4711")
        insert_response(conn, source="survey", external_id="4711")  # another source: fine
        insert_response(conn)  # generated rows have no external id: as many as wanted
        insert_response(conn)
    with (
        pytest.raises(IntegrityError, match="survey_response_source_external_id_key"),
        db.engine.begin() as conn,
    ):
        insert_response(conn, source="import:zendesk", external_id="4711")


def test_rows_that_name_no_source_are_demo_data(db):
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, "
                "nps_score) VALUES (now(), 'chat', 'individual', 8)"
            )
        )
        assert conn.execute(text("SELECT source FROM app.survey_response")).scalar() == (
            "generated"
        )


def test_a_generator_slot_is_filled_once(db):
    with db.engine.begin() as conn:
        insert_response(conn, generator_slot=7)
    with (
        pytest.raises(IntegrityError, match="survey_response_generator_slot_key"),
        db.engine.begin() as conn,
    ):
        insert_response(conn, generator_slot=7)


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"password_hash": "hunter2-plain-text"}, "users_password_is_bcrypt"),
        ({"username": "a"}, "users_username_format"),
        ({"username": "bob smith"}, "users_username_format"),
        ({"username": "x'; DROP TABLE app.users; --"}, "users_username_format"),
        ({"email": "not-an-email"}, "users_email_format"),
        ({"display_name": "   "}, "users_display_name_length"),
    ],
)
def test_the_database_refuses_a_bad_user(db, overrides, constraint):
    with pytest.raises(IntegrityError) as refused, db.engine.begin() as conn:
        insert_user(conn, **overrides)
    assert constraint in str(refused.value.orig)


def test_usernames_are_unique_whatever_their_case(db):
    with db.engine.begin() as conn:
        insert_user(conn, username="Alice")
    with pytest.raises(IntegrityError, match="users_username_ci_key"), db.engine.begin() as conn:
        insert_user(conn, username="alice")


def test_updating_a_user_touches_updated_at(db):
    with db.engine.begin() as conn:
        insert_user(conn)
        before = conn.execute(text("SELECT updated_at FROM app.users")).scalar()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE app.users SET display_name = 'Alice B.'"))
        after = conn.execute(text("SELECT updated_at FROM app.users")).scalar()
    assert after > before
