"""A job killed mid-run (SIGKILL) and started again ends at exactly the target with no duplicate;
SIGTERM stops it cleanly after the batches in flight. Real processes, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sqlalchemy import text

from tests.job.conftest import REPO, job_command, parse_json_lines, run_job, scalar, subprocess_env

COUNT = "SELECT count(*) FROM app.survey_response"


def start_job(env: dict[str, str], *args: str, **overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        job_command(*args),
        cwd=REPO,
        env=subprocess_env(env, **overrides),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(db, process: subprocess.Popen, at_least: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = scalar(db, COUNT)
        if rows >= at_least:
            return rows
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} rows after {timeout} s")


def snapshot(db) -> dict[int, tuple]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT generator_slot, responded_at, nps_score, comment FROM app.survey_response")
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_sigkill_mid_run_then_a_rerun_ends_at_exactly_the_target(job_env, db, ollama):
    ollama.behaviour.delay_s = 0.03  # slow enough to be caught mid-run
    process = start_job(job_env, "generate", JOB_CONCURRENCY="3")
    wait_for_rows(db, process, 300)
    process.kill()  # SIGKILL: no handler, no cleanup
    process.wait(timeout=10)
    before = snapshot(db)
    assert 300 <= len(before) < 1000
    [status] = [r[0] for r in _runs(db)]
    assert status == "running"  # nobody was left to say otherwise

    ollama.behaviour.delay_s = 0
    rerun = run_job(job_env, "generate", JOB_CONCURRENCY="3")
    assert rerun.code == 0, rerun.lines[-1]
    started = rerun.last("generation_started")
    assert started["already_there"] == len(before)
    assert started["to_write"] == 1000 - len(before)

    after = snapshot(db)
    assert sorted(after) == list(range(1, 1001))  # every slot once: none missing, none twice
    assert scalar(db, COUNT) == 1000
    assert all(after[slot] == row for slot, row in before.items())  # earlier rows untouched
    assert [r[0] for r in _runs(db)] == ["interrupted", "succeeded"]
    assert _runs(db)[-1][1] == 1000  # written: the data set's progress


def test_sigterm_stops_after_the_batches_in_flight(job_env, db, ollama):
    ollama.behaviour.delay_s = 0.05
    process = start_job(job_env, "generate", JOB_CONCURRENCY="2")
    wait_for_rows(db, process, 100)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=20)
    assert time.monotonic() - signalled < 10  # calls in flight take 0.05 s; the rest is exit
    assert process.returncode == 128 + signal.SIGTERM

    lines = parse_json_lines(stdout)
    events = [line["event"] for line in lines]
    assert "job_stopping" in events and events[-1] == "job_interrupted"
    rows = scalar(db, COUNT)
    assert 100 <= rows < 1000
    assert rows % 10 == 0  # whole batches of 10 only: nothing half-written
    status, written = _runs(db)[-1]
    assert (status, written) == ("interrupted", rows)


def _runs(db) -> list[tuple[str, int]]:
    with db.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT status, written FROM app.job_run ORDER BY started_at")
            )
        ]


# SIGTERM arrives while the main thread holds structlog's output lock, halfway through writing
# a log line: a handler that logs would wait for that lock forever (it is not re-entrant).
SIGNAL_DURING_A_LOG_LINE = """
import json, os, signal, sys, threading
import structlog
from structlog._output import _get_lock_for_file
from jobs.signals import StopSignals
from npscsat.logs import configure_logging

configure_logging("INFO", "json")
structlog.get_logger("test").info("before")  # the logger's lock for stdout now exists
halt = threading.Event()
with StopSignals(halt) as signals:
    with _get_lock_for_file(sys.stdout):  # as if the main thread were mid-line
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs here, between two bytecodes
            pass
    stopped = halt.wait(10)
print(json.dumps({"event": "survived", "halted": stopped, "exit_code": signals.exit_code}))
"""


def test_a_signal_that_lands_while_a_log_line_is_written_does_not_deadlock():
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_DURING_A_LOG_LINE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = parse_json_lines(done.stdout)
    events = [line["event"] for line in lines]
    assert events[-1] == "survived" and lines[-1]["halted"] is True
    assert lines[-1]["exit_code"] == 128 + signal.SIGTERM
    assert "job_stopping" in events  # logged, from outside the handler
