"""Fixtures of the job's tests: an Ollama-protocol server on 127.0.0.1, the job's environment
pointing at it and at the session database, and helpers to run the job in or out of process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text

from jobs.cli import main
from jobs.config import JobSettings
from testkit.ollama_server import Behaviour, OllamaTestServer

REPO = Path(__file__).resolve().parents[2]
TEST_MODEL = "test-model"


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """In-process runs point structlog at pytest's capture stream; forget it afterwards."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def ollama() -> Iterator[OllamaTestServer]:
    """A well-behaved server holding TEST_MODEL; tests change `.behaviour` to inject faults."""
    with OllamaTestServer(Behaviour(models={TEST_MODEL})) as server:
        yield server


def _job_variables() -> list[str]:
    return [name.upper() for name in JobSettings.model_fields]


@pytest.fixture
def job_env(db, ollama, monkeypatch) -> dict[str, str]:
    """The job's environment for this test (also set in os.environ for in-process runs): the
    session database (emptied), the test server, no backoff waits, a fixed window."""
    for name in _job_variables():
        monkeypatch.delenv(name, raising=False)
    env = {
        "DATABASE_URL": db.url.render_as_string(hide_password=False),
        "APP_ENV": "dev",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "OLLAMA_HOST": ollama.url,
        "OLLAMA_MODEL": TEST_MODEL,
        "OLLAMA_TIMEOUT_SECONDS": "5",
        "OLLAMA_GIVE_UP_SECONDS": "30",
        "OLLAMA_MODEL_WAIT_SECONDS": "30",
        "OLLAMA_BACKOFF_SECONDS": "0",
        "OLLAMA_BACKOFF_MAX_SECONDS": "0",
        "JOB_TARGET_RESPONSES": "1000",
        "JOB_BATCH_SIZE": "10",
        "JOB_CONCURRENCY": "4",
        "JOB_WINDOW_END": "2025-06-30",
        "DASHBOARD_ADMIN_USERNAME": "admin",
        "DASHBOARD_ADMIN_PASSWORD": "dev-password",
        "DASHBOARD_PUBLIC_URL": "http://localhost:8501",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@dataclass
class JobResult:
    code: int
    lines: list[dict]  # every stdout line, parsed as JSON (a line that is not JSON fails)
    stderr: str

    def events(self, name: str) -> list[dict]:
        return [line for line in self.lines if line.get("event") == name]

    def last(self, name: str) -> dict:
        found = self.events(name)
        assert found, f"no {name!r} line; events: {[line.get('event') for line in self.lines]}"
        return found[-1]


def parse_json_lines(stdout: str) -> list[dict]:
    lines = []
    for raw in stdout.splitlines():
        if raw.strip():
            lines.append(json.loads(raw))  # raises on any line that is not JSON
    return lines


def job_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "jobs", *args]


def subprocess_env(env: dict[str, str], **overrides: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k.upper() not in set(_job_variables())}
    return {**keep, **env, **overrides}


def run_job(
    env: dict[str, str],
    *args: str,
    timeout: float = 120,
    stdin: str | None = None,
    **overrides: str,
) -> JobResult:
    """Runs `python -m jobs ARGS` as a real process and parses its JSON log lines."""
    done = subprocess.run(
        job_command(*args),
        cwd=REPO,
        env=subprocess_env(env, **overrides),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return JobResult(done.returncode, parse_json_lines(done.stdout), done.stderr)


def run_in_process(capsys, *args: str, stdin: str | None = None) -> JobResult:
    """Runs `main(ARGS)` in this process (faster than a subprocess) and parses its JSON lines."""
    capsys.readouterr()  # drop whatever came before
    code = main(list(args), stdin=io.StringIO(stdin or ""))
    out, err = capsys.readouterr()
    return JobResult(code, parse_json_lines(out), err)


def scalar(db, sql: str, **params):
    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()
