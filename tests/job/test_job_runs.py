"""Whole runs of the job against the Ollama-protocol server and a real PostgreSQL: the target is
reached exactly, faults and drift are survived and counted, failures are clear, and every log
line is JSON carrying the run id."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from datetime import timedelta

import bcrypt
from sqlalchemy import text

from jobs import records
from jobs.coherence import contradicts
from jobs.runs import data_lock
from testkit.ports import free_port
from tests.job.conftest import (
    REPO,
    JobResult,
    job_command,
    parse_json_lines,
    run_in_process,
    run_job,
    scalar,
    subprocess_env,
)

SLOT_SUMMARY = """
    SELECT count(*) AS rows, count(DISTINCT generator_slot) AS slots,
           min(generator_slot) AS first, max(generator_slot) AS last
      FROM app.survey_response WHERE generator_slot IS NOT NULL
"""


def slot_summary(db) -> tuple[int, int, int, int]:
    with db.engine.connect() as conn:
        return tuple(conn.execute(text(SLOT_SUMMARY)).one())


def job_runs(db) -> list:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT * FROM app.job_run ORDER BY started_at")).mappings().all()


def assert_one_run_id(result: JobResult) -> str:
    run_ids = {line.get("run_id") for line in result.lines}
    assert len(run_ids) == 1 and None not in run_ids, run_ids
    return run_ids.pop()


def test_a_run_reaches_the_target_and_a_second_run_adds_nothing(job_env, db, ollama, capsys):
    first = run_in_process(capsys)
    assert first.code == 0, first.lines[-1]
    assert slot_summary(db) == (1000, 1000, 1, 1000)

    run_id = assert_one_run_id(first)
    summary = first.last("job_finished")
    assert summary["written"] == summary["responses_total"] == summary["target"] == 1000
    assert summary["dropped"] == 0 and summary["retries"] == 0
    assert summary["tokens"] > 0 and summary["tokens_per_record"] > 0
    assert summary["kept_pct"] == 100.0 and summary["model_records"] == 1000
    assert 0 < summary["completion_tokens_per_record"] < summary["tokens_per_record"]
    # About half the respondents wrote a comment (detractors most, passives least).
    commented = scalar(db, "SELECT count(comment) FROM app.survey_response")
    assert summary["labelled"] == commented and 400 < commented < 650
    assert summary["sentiment_agreement_pct"] is not None
    assert summary["dashboard_url"] == "http://localhost:8501"
    assert summary["login_user"] == "admin"
    assert summary["next"] == "open http://localhost:8501 and log in as admin"
    progress = first.events("generation_progress")
    assert progress and progress[-1]["done"] == 1000
    assert {"records_per_s", "eta_s", "percent"} <= set(progress[0])

    [run] = job_runs(db)
    assert str(run["run_id"]) == run_id
    assert (run["status"], run["target"], run["written"], run["dropped"]) == (
        "succeeded",
        1000,
        1000,
        0,
    )
    assert (run["phase"], run["model"]) == ("refreshing", "test-model")
    assert (
        scalar(
            db, "SELECT count(*) FROM app.survey_response WHERE sentiment IS NULL AND comment <> ''"
        )
        == 0
    )
    assert scalar(db, "SELECT sum(responses) FROM reporting.daily_rollup") == 1000
    password_hash = scalar(db, "SELECT password_hash FROM app.users WHERE username = 'admin'")
    assert bcrypt.checkpw(b"dev-password", password_hash.encode())

    calls = ollama.stats.chat_calls
    second = run_in_process(capsys)
    assert second.code == 0
    assert slot_summary(db) == (1000, 1000, 1, 1000)
    assert ollama.stats.chat_calls == calls  # nothing to do: Ollama is not even asked
    assert second.last("job_finished")["written"] == 0
    assert second.last("admin_user_ready")["outcome"] == "exists"
    assert [r["status"] for r in job_runs(db)] == ["succeeded", "succeeded"]
    assert job_runs(db)[-1]["written"] == 1000


def test_progress_is_logged_as_batches_land(job_env, db, ollama, capsys, monkeypatch):
    # A model that takes a moment per answer, as a real one does: each batch is committed
    # before the next arrives, and progress lines follow every tenth of the work.
    ollama.behaviour.delay_s = 0.03
    monkeypatch.setenv("JOB_CONCURRENCY", "1")
    result = run_in_process(capsys, "generate", "--target", "100")
    assert result.code == 0
    done = [line["done"] for line in result.events("generation_progress")]
    assert done == sorted(done) and done[-1] == 100
    assert len(done) >= 8
    last = result.events("generation_progress")[-2]
    assert last["records_per_s"] > 0 and last["eta_s"] is not None


def test_re_runs_top_up_to_a_larger_target_and_never_shrink(job_env, db, capsys):
    assert run_in_process(capsys, "generate", "--target", "120").code == 0
    assert slot_summary(db) == (120, 120, 1, 120)
    smaller = run_in_process(capsys, "generate", "--target", "50")
    assert smaller.code == 0 and slot_summary(db)[0] == 120
    larger = run_in_process(capsys, "generate", "--target", "200")
    started = larger.last("generation_started")
    assert (started["already_there"], started["to_write"]) == (120, 80)
    assert larger.last("job_finished")["written"] == 80
    assert slot_summary(db) == (200, 200, 1, 200)


def test_http_500s_and_garbage_answers_still_reach_the_target(
    job_env, db, ollama, capsys, monkeypatch
):
    # Half the calls fail: HTTP 500, or a 200 whose answer ignores the schema. No call has a
    # bound of its own: the run goes on while the server answers something now and then.
    ollama.behaviour.error_rate = 0.3
    ollama.behaviour.garbage_rate = 0.2
    result = run_in_process(capsys)
    assert result.code == 0, result.lines[-1]
    assert slot_summary(db) == (1000, 1000, 1, 1000)
    assert ollama.stats.answers["http_500"] > 20 and ollama.stats.answers["garbage"] > 10
    retries = result.events("ollama_retry")
    summary = result.last("job_finished")
    # Every failed answer was retried, except those that ended their call as unusable (three
    # unusable answers in a row): those calls' records went back to the queue instead.
    failed = ollama.stats.answers["http_500"] + ollama.stats.answers["garbage"]
    assert summary["retries"] == len(retries) == failed - summary["unusable_calls"]
    assert set(summary["retry_reasons"]) <= {"http_5xx", "invalid_answer", "unreadable_response"}
    assert_one_run_id(result)  # retries are logged from worker threads, with the run id
    assert job_runs(db)[-1]["retries"] == summary["retries"]


def test_a_drifting_model_is_dropped_counted_and_asked_again(job_env, db, ollama, capsys):
    b = ollama.behaviour
    b.out_of_band_rate, b.contradiction_rate, b.near_duplicate_rate = 0.05, 0.1, 0.05
    b.markup_rate, b.label_rate = 0.03, 0.03
    result = run_in_process(capsys)
    assert result.code == 0, result.lines[-1]
    assert slot_summary(db) == (1000, 1000, 1, 1000)

    summary = result.last("job_finished")
    reasons = summary["dropped_reasons"]
    injected = ollama.stats.injected
    assert reasons["nps_outside_band"] == injected["out_of_band"] > 0
    assert reasons["near_duplicate_comment"] == injected["near_duplicate"] > 0
    assert reasons["comment_markup"] == injected["markup"] > 0
    assert reasons["comment_not_a_sentence"] == injected["label"] > 0
    assert 0 < reasons["comment_contradicts_nps"] <= injected["contradiction"]
    dropped = sum(reasons.values())
    assert summary["dropped"] == dropped == job_runs(db)[-1]["dropped"]
    logged = sum(sum(line["reasons"].values()) for line in result.events("records_dropped"))
    assert logged == dropped
    assert summary["model_records"] == 1000 + dropped
    assert summary["kept_pct"] == round(100 * 1000 / (1000 + dropped), 1)

    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT nps_category, nps_score, csat_score, comment FROM app.survey_response")
        ).all()
    assert not [r for r in stored if r.comment and contradicts(r.nps_category, r.comment)]
    assert not [r for r in stored if r.comment and ("{" in r.comment or "/" in r.comment)]
    bands = {"detractor": (1, 3), "passive": (3, 5), "promoter": (4, 5)}
    assert all(
        bands[r.nps_category][0] <= r.csat_score <= bands[r.nps_category][1]
        for r in stored
        if r.csat_score is not None
    )


def test_broken_answers_keep_the_records_before_the_break(job_env, db, ollama, capsys):
    b = ollama.behaviour
    b.truncate_rate, b.control_char_rate, b.wrong_count_rate = 0.15, 0.15, 0.1
    result = run_in_process(capsys)
    assert result.code == 0, result.lines[-1]
    assert slot_summary(db) == (1000, 1000, 1, 1000)
    injected = ollama.stats.injected
    broken = [line for line in result.events("records_dropped") if not line["answer_complete"]]
    # Every cut-off or broken answer gave its first record, and no call was lost whole.
    assert len(broken) == injected["truncated"] + injected["control_char"] > 0
    assert all(line["kept"] >= 1 for line in broken)
    summary = result.last("job_finished")
    assert summary["unusable_calls"] == 0 and summary["retries"] == 0
    reasons = summary["dropped_reasons"]
    assert 0 < reasons.get("extra_record", 0) <= injected["wrong_count"]
    assert reasons.get("incomplete_record", 0) <= injected["truncated"]
    with db.engine.connect() as conn:
        comments = conn.execute(text("SELECT comment FROM app.survey_response")).scalars().all()
    assert not [c for c in comments if c and ("\n" in c or "\t" in c)]


def test_a_re_ask_changes_the_topic_the_style_and_the_temperature(job_env, db, ollama, capsys):
    # Repetitions are asked again hotter ...
    ollama.behaviour.near_duplicate_rate = 0.3
    result = run_in_process(capsys, "generate", "--target", "200")
    assert result.code == 0, result.lines[-1]
    temperatures = ollama.stats.temperatures
    assert min(temperatures) == 0.8 and 0.8 < max(temperatures) <= 1.2
    # The same slot asked twice: the second prompt tells another topic and style.
    first_prompt = ollama.stats.prompts[0]
    again = [p for t, p in zip(temperatures, ollama.stats.prompts, strict=True) if t > 0.8]
    assert again and all(p not in first_prompt for p in again)

    # ... a comment that said the opposite of its score, cooler.
    ollama.behaviour.near_duplicate_rate, ollama.behaviour.contradiction_rate = 0.0, 0.3
    ollama.stats.temperatures.clear()
    result = run_in_process(capsys, "generate", "--target", "400")
    assert result.code == 0, result.lines[-1]
    assert set(ollama.stats.temperatures) == {0.8, 0.5}


def test_a_comment_the_model_cannot_write_is_given_up_not_the_run(job_env, db, ollama, capsys):
    ollama.behaviour.contradiction_rate = 1.0  # every non-passive comment says the opposite
    result = run_in_process(capsys, "generate", "--target", "100")
    assert result.code == 0, result.lines[-1]
    assert slot_summary(db) == (100, 100, 1, 100)
    summary = result.last("job_finished")
    # Half the asks (4 of JOB_MAX_ASKS_PER_RECORD=8) with the comment, then the scores alone.
    assert summary["comments_given_up"] > 0
    assert summary["dropped_reasons"]["comment_contradicts_nps"] >= 4 * summary["comments_given_up"]
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT nps_category, comment FROM app.survey_response WHERE comment IS NOT NULL")
        ).all()
    assert not [r for r in stored if contradicts(r.nps_category, r.comment)]


def test_records_that_stay_invalid_stop_the_job_with_the_reasons(
    job_env, db, ollama, capsys, monkeypatch
):
    ollama.behaviour.out_of_band_rate = 0.5  # no comment given up fixes a score out of its band
    monkeypatch.setenv("JOB_MAX_ASKS_PER_RECORD", "2")
    result = run_in_process(capsys, "generate", "--target", "40")
    assert result.code == 1
    failure = result.last("job_failed")
    assert failure["cause"] == "GenerationStalled"
    assert "JOB_MAX_ASKS_PER_RECORD=2" in failure["error"]
    assert "nps_outside_band" in failure["error"] or "csat_outside_band" in failure["error"]
    written = slot_summary(db)[0]
    assert 0 < written < 40  # the records that came back in their bands; nothing half
    logged = sum(sum(line["reasons"].values()) for line in result.events("records_dropped"))
    assert (failure["written"], failure["dropped"]) == (written, logged)
    run = job_runs(db)[-1]
    assert (run["status"], run["written"]) == ("failed", written)
    assert run["dropped"] == failure["dropped"] > 0
    assert "JOB_MAX_ASKS_PER_RECORD" in run["detail"]


def test_ollama_down_fails_clearly_within_the_bound(job_env, db):
    host = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_job(
        job_env,
        OLLAMA_HOST=host,
        OLLAMA_MODEL_WAIT_SECONDS="2",
        OLLAMA_BACKOFF_SECONDS="0.2",
        OLLAMA_BACKOFF_MAX_SECONDS="0.5",
        timeout=60,
    )
    assert time.monotonic() - started < 20
    assert result.code == 1
    failure = result.lines[-1]  # real output: every line parsed as JSON
    assert failure["event"] == "job_failed" and failure["level"] == "error"
    assert failure["cause"] == "ModelMissing"
    assert host in failure["error"] and "test-model" in failure["error"]
    assert (
        "cannot connect" in failure["error"] and "OLLAMA_MODEL_WAIT_SECONDS=2" in failure["error"]
    )
    assert result.events("model_waiting")
    assert_one_run_id(result)
    assert "Traceback" not in result.stderr
    run = job_runs(db)[-1]
    assert run["status"] == "failed" and host in run["detail"]


def test_bad_configuration_names_the_variable_and_exits_2(job_env, capsys, monkeypatch):
    monkeypatch.setenv("JOB_BATCH_SIZE", "0")
    result = run_in_process(capsys)
    assert result.code == 2
    assert result.lines[-1]["event"] == "job_failed"
    assert result.lines[-1]["error"].startswith("JOB_BATCH_SIZE:")
    monkeypatch.delenv("JOB_BATCH_SIZE")
    monkeypatch.setenv("APP_ENV", "prod")
    monkeypatch.setenv("DASHBOARD_ADMIN_PASSWORD", "changethis")
    prod = run_in_process(capsys)
    assert prod.code == 2
    assert "DASHBOARD_ADMIN_PASSWORD looks like a placeholder" in prod.lines[-1]["error"]


def test_a_second_run_while_one_holds_the_data_lock_is_refused(job_env, db, capsys):
    with data_lock(db.engine):
        result = run_in_process(capsys, "generate")
    assert result.code == 1
    assert result.last("job_failed")["cause"] == "AnotherRunActive"
    assert slot_summary(db)[0] == 0


def test_a_run_marked_running_by_a_dead_process_is_marked_interrupted(job_env, db, capsys):
    dead = uuid.uuid4()
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO app.job_run (run_id, target) VALUES (:id, 10)"), {"id": dead}
        )
    result = run_in_process(capsys, "generate", "--target", "10")
    assert result.code == 0
    assert result.last("stale_run_marked_interrupted")["stale_run_id"] == str(dead)
    statuses = {str(r["run_id"]): r["status"] for r in job_runs(db)}
    assert statuses[str(dead)] == "interrupted"


def test_a_server_that_fails_every_call_is_given_up_in_bounded_time(job_env, db, ollama):
    ollama.behaviour.error_rate = 1.0  # the model is there; every answer is an HTTP 500
    started = time.monotonic()
    result = run_job(
        job_env,
        OLLAMA_GIVE_UP_SECONDS="2",
        OLLAMA_BACKOFF_SECONDS="0.1",
        OLLAMA_BACKOFF_MAX_SECONDS="0.3",
        timeout=60,
    )
    assert time.monotonic() - started < 20
    assert result.code == 1
    failure = result.last("job_failed")
    assert failure["cause"] == "OllamaUnavailable"
    assert "OLLAMA_GIVE_UP_SECONDS=2" in failure["error"] and "HTTP 500" in failure["error"]
    assert ollama.url in failure["error"] and "test-model" in failure["error"]
    assert slot_summary(db)[0] == 0
    assert job_runs(db)[-1]["status"] == "failed"


def test_each_call_caps_its_output_from_the_batch(job_env, db, ollama, capsys):
    result = run_in_process(capsys, "generate", "--target", "60")
    assert result.code == 0
    calls = [
        (prompt, limit)
        for prompt, limit in zip(ollama.stats.prompts, ollama.stats.num_predicts, strict=True)
        if prompt.startswith("Write ")
    ]
    assert len(calls) == 6
    for prompt, limit in calls:
        cases = len(re.findall(r"^\d+\. ", prompt, flags=re.M))
        comments = prompt.count("about: ")
        expected = (
            records.TOKENS_PER_ANSWER
            + records.TOKENS_PER_RECORD * cases
            + records.TOKENS_PER_COMMENT * comments
        )
        assert limit == expected < 1000


def test_the_schema_and_users_are_ready_while_the_model_is_still_missing(job_env, db, ollama):
    """The dashboard can log people in during a first download: the job applies the schema and
    creates the users before it waits for the model, and says what it waits for."""
    ollama.behaviour.models = set()  # not pulled yet: someone else's pull is still at it
    process = subprocess.Popen(
        job_command("run"),
        cwd=REPO,
        env=subprocess_env(job_env, JOB_TARGET_RESPONSES="50", OLLAMA_PULL_MODEL="false"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        phase = None
        while time.monotonic() < deadline and phase != "waiting_for_model":
            time.sleep(0.2)
            with db.engine.connect() as conn:
                phase = conn.execute(
                    text("SELECT phase FROM reporting.job_status WHERE alive")
                ).scalar()
        assert phase == "waiting_for_model"
        assert scalar(db, "SELECT count(*) FROM app.users WHERE username = 'admin'") == 1
        with db.dashboard_engine.connect() as conn:  # the read-only role can see the status
            status = conn.execute(text("SELECT * FROM reporting.job_status")).mappings().one()
        assert status["alive"] and status["model"] == "test-model"
        ollama.add_model("test-model")  # the pull finished
        out, _err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0
    lines = parse_json_lines(out)
    assert any(line["event"] == "model_waiting" for line in lines)
    assert slot_summary(db) == (50, 50, 1, 50)


def test_the_window_is_pinned_by_the_first_run_so_a_later_run_draws_the_same_cases(
    job_env, db, capsys, monkeypatch
):
    monkeypatch.delenv("JOB_WINDOW_END")  # the default: yesterday, the day of the first run
    first = run_in_process(capsys, "generate", "--target", "30")
    assert first.code == 0
    assert first.last("scenario_window")["source"] == "new"
    pinned = scalar(db, "SELECT window_end FROM app.generation_window")
    times = "SELECT generator_slot, responded_at FROM app.survey_response WHERE generator_slot > 20"
    with db.engine.begin() as conn:  # as if the first run was made a week ago, and was killed
        before = dict(conn.execute(text(times)).all())
        conn.execute(text("UPDATE app.generation_window SET window_end = window_end - 7"))
        conn.execute(text("DELETE FROM app.survey_response WHERE generator_slot > 20"))
    later = run_in_process(capsys, "generate", "--target", "30")
    assert later.code == 0
    window = later.last("scenario_window")
    assert window["source"] == "pinned"
    assert window["window_end"] == (pinned - timedelta(days=7)).isoformat()
    # The same cases, drawn in the pinned window (a week earlier: the same weekdays, so the
    # same days of it), not in one that ends "yesterday".
    with db.engine.connect() as conn:
        after = dict(conn.execute(text(times)).all())
    assert after == {slot: moment - timedelta(days=7) for slot, moment in before.items()}

    monkeypatch.setenv("JOB_WINDOW_END", "2025-06-30")  # an explicit setting wins, and pins
    explicit = run_in_process(capsys, "generate", "--target", "31")
    window = explicit.last("scenario_window")
    assert (window["source"], window["window_end"]) == ("setting", "2025-06-30")
    assert str(scalar(db, "SELECT window_end FROM app.generation_window")) == "2025-06-30"
