"""Sentiment is filled only where it is missing, for any row with a comment; the reporting
rollup is rebuilt only when it drifted from the raw rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from tests.job.conftest import run_in_process, scalar

WHEN = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


def insert(db, *, slot, nps, comment, sentiment=None):
    with db.engine.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, "
                "nps_score, csat_score, comment, sentiment, generator_slot) VALUES "
                "(:when, 'chat', 'individual', :nps, 4, :comment, :sentiment, :slot) RETURNING id"
            ),
            {"when": WHEN, "nps": nps, "comment": comment, "sentiment": sentiment, "slot": slot},
        ).scalar_one()


def sentiments(db) -> dict[int, str | None]:
    with db.engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, sentiment FROM app.survey_response")).all())


def test_classification_fills_only_missing_labels_on_rows_with_comments(
    job_env, db, ollama, capsys
):
    # Labels already there stay, even one the model would disagree with.
    kept = insert(db, slot=1, nps=10, comment="Great support, thank you!", sentiment="neutral")
    generated = insert(db, slot=2, nps=2, comment="Terrible wait, I am unhappy.")
    manual = [
        insert(db, slot=None, nps=9, comment=f"Great help number {i}, thank you!")
        for i in range(45)
    ]  # not from the generator: labelled too
    silent = insert(db, slot=None, nps=8, comment=None)

    result = run_in_process(capsys, "classify")
    assert result.code == 0, result.lines[-1]
    labels = sentiments(db)
    assert labels[kept] == "neutral"
    assert labels[generated] == "negative"
    assert {labels[i] for i in manual} == {"positive"}
    assert labels[silent] is None
    summary = result.last("job_finished")
    assert summary["labelled"] == 46 and summary["left_unlabelled"] == 0
    # 46 comments in batches of JOB_CLASSIFY_BATCH_SIZE (default 20): three calls.
    assert ollama.stats.chat_calls == 3
    assert scalar(db, "SELECT sum(sentiment_positive) FROM reporting.daily_rollup") == 45

    again = run_in_process(capsys, "classify")
    assert again.code == 0 and again.last("job_finished")["labelled"] == 0
    assert ollama.stats.chat_calls == 3


def test_nothing_to_label_needs_no_ollama(job_env, db, capsys, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there
    insert(db, slot=None, nps=5, comment="Already labelled, thanks.", sentiment="neutral")
    result = run_in_process(capsys, "classify")
    assert result.code == 0
    assert result.last("nothing_to_generate")["model_check"] == "skipped"


def test_unusable_labels_are_asked_again(job_env, db, ollama, capsys):
    ollama.behaviour.garbage_rate = 0.4
    ids = [insert(db, slot=i, nps=1, comment=f"Terrible service, case {i}.") for i in range(1, 61)]
    result = run_in_process(capsys, "classify")
    assert result.code == 0
    assert {sentiments(db)[i] for i in ids} == {"negative"}
    # Every unusable answer was retried, but those ending a call (three in a row), whose
    # comments went back to the queue.
    garbage = ollama.stats.answers["garbage"]
    assert 0 < result.last("job_finished")["retries"] <= garbage


def test_refresh_rebuilds_the_rollup_only_when_it_drifted(job_env, db, capsys):
    for slot in range(1, 6):
        insert(
            db, slot=slot, nps=slot, comment="Slow answer, not solved yet.", sentiment="negative"
        )
    in_step = run_in_process(capsys, "refresh")
    assert in_step.code == 0
    assert in_step.last("reporting_checked")["rebuilt"] is False
    assert not in_step.events("reporting_rebuilt")

    with db.engine.begin() as conn:  # a rollup out of step with its raw rows
        conn.execute(
            text(
                "UPDATE reporting.daily_rollup SET responses = responses + 3, "
                "sentiment_negative = 0"
            )
        )
    drifted = run_in_process(capsys, "refresh")
    assert drifted.code == 0
    rebuilt = drifted.last("reporting_rebuilt")
    assert rebuilt["drifted"]["responses"] == {"raw": 5, "rollup": 8}
    assert rebuilt["drifted"]["sentiment_negative"] == {"raw": 5, "rollup": 0}
    assert scalar(db, "SELECT sum(responses) FROM reporting.daily_rollup") == 5
    assert scalar(db, "SELECT sum(sentiment_negative) FROM reporting.daily_rollup") == 5


def rollup_rows(db) -> set[tuple]:
    with db.engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT day, channel, customer_type, responses, promoters, detractors, "
                    "nps_sum, csat_count, csat_sum FROM reporting.daily_rollup"
                )
            ).all()
        )


def test_refresh_catches_drift_inside_the_rollup_that_leaves_the_totals_alone(job_env, db, capsys):
    """With the triggers off, one response moved 30 days and to another channel: every grand
    total still agrees, but two rollup rows are wrong. Compared per key, it is repaired."""
    for slot in range(1, 4):
        insert(db, slot=slot, nps=slot + 6, comment=None)
    moved = insert(db, slot=4, nps=2, comment="Nobody called me back.", sentiment="negative")
    correct = rollup_rows(db)
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE app.survey_response DISABLE TRIGGER USER"))
        conn.execute(
            text(
                "UPDATE app.survey_response SET responded_at = responded_at - interval '30 days', "
                "channel = 'email' WHERE id = :id"
            ),
            {"id": moved},
        )
        conn.execute(text("ALTER TABLE app.survey_response ENABLE TRIGGER USER"))
    stale = rollup_rows(db)
    assert stale == correct  # the rollup never heard of the move

    result = run_in_process(capsys, "refresh")
    assert result.code == 0
    rebuilt = result.last("reporting_rebuilt")
    assert rebuilt["keys_drifted"] == 2  # the old day x chat row and the new day x email row
    assert rebuilt["drifted"] == {}  # no grand total differs
    keys = {(e["key"]["day"], e["key"]["channel"]) for e in rebuilt["examples"]}
    assert keys == {("2025-05-05", "chat"), ("2025-04-05", "email")}
    assert result.last("reporting_checked")["rebuilt"] is True
    after = rollup_rows(db)
    assert ("2025-04-05", "email") in {(str(r[0]), r[1]) for r in after}
    assert sum(r[3] for r in after if r[1] == "chat") == 3

    again = run_in_process(capsys, "refresh")
    assert again.last("reporting_checked")["rebuilt"] is False
    assert rollup_rows(db) == after  # a clean rollup is left as it is
