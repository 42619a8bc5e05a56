"""The bulk loader: the fast COPY path, and the careful path when a slot is already taken."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from jobs.load import ResponseLoader
from jobs.records import ResponseRow

START = datetime(2026, 11, 2, 9, tzinfo=UTC)


def rows(slots) -> list[ResponseRow]:
    return [
        ResponseRow(slot, START + timedelta(hours=slot), "chat", "individual", 9, 5, f"ok {slot}")
        for slot in slots
    ]


def stored(db) -> list[tuple]:
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT generator_slot, comment, run_id FROM app.survey_response ORDER BY 1")
        ).all()


def test_fresh_slots_are_copied_with_the_run_id(db):
    run_id = uuid.uuid4()
    loader = ResponseLoader(db.engine, run_id)
    try:
        assert loader.write(rows(range(1, 6))) == 5
    finally:
        loader.close()
    assert [(slot, run) for slot, _, run in stored(db)] == [(s, run_id) for s in range(1, 6)]
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(responses) FROM reporting.daily_rollup")).scalar() == 5


def test_a_taken_slot_is_skipped_and_the_rest_still_lands(db):
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.survey_response (generator_slot, responded_at, channel, "
                "customer_type, nps_score, comment) VALUES (3, now(), 'email', 'enterprise', 2, "
                "'already here')"
            )
        )
    loader = ResponseLoader(db.engine, None)
    try:
        assert loader.write(rows(range(1, 6))) == 4  # the UNIQUE key refused COPY; staged path
        assert loader.write(rows(range(6, 8))) == 2  # and the fast path works again afterwards
        assert loader.write(rows([3, 7])) == 0
    finally:
        loader.close()
    slots = stored(db)
    assert [slot for slot, _, _ in slots] == list(range(1, 8))
    assert slots[2][1] == "already here"
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(responses) FROM reporting.daily_rollup")).scalar() == 7
