"""Dashboard users (bcrypt only, passwords never from argv) and the job's settings errors."""

from __future__ import annotations

import bcrypt
import pytest
from sqlalchemy import text

from jobs.cli import build_parser
from jobs.config import JobSettings
from jobs.errors import UserError
from jobs.users import ensure_admin
from npscsat.config import load_settings
from npscsat.errors import ConfigError
from tests.job.conftest import run_in_process, run_job


def user_row(db, username: str):
    with db.engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT username, display_name, email, password_hash, is_active "
                    "FROM app.users WHERE lower(username) = lower(:u)"
                ),
                {"u": username},
            )
            .mappings()
            .one_or_none()
        )


def admin(db, password="first-password", **overrides):
    options = dict(
        username="Admin", password=password, display_name="Administrator", email=None, app_env="dev"
    )
    options.update(overrides)
    return ensure_admin(db.engine, **options)


def test_the_demo_user_is_created_once_and_then_left_alone(db):
    assert admin(db) == "created"
    row = user_row(db, "admin")
    assert row["password_hash"].startswith("$2b$12$")
    assert bcrypt.checkpw(b"first-password", row["password_hash"].encode())
    assert admin(db) == "exists"
    assert user_row(db, "admin")["password_hash"] == row["password_hash"]


def test_a_run_never_undoes_disable_or_set_password(job_env, db, capsys):
    """The nightly CronJob runs `python -m jobs` with the same DASHBOARD_ADMIN_PASSWORD: it must
    not re-enable a disabled admin, nor put back the password an operator replaced."""
    assert run_in_process(capsys, "users").code == 0  # creates admin / dev-password
    assert run_in_process(capsys, "users", "set-password", "admin", stdin="rotated-pw\n").code == 0
    assert run_in_process(capsys, "users", "disable", "admin").code == 0

    again = run_in_process(capsys, "users")  # what every run does
    assert again.code == 0
    assert again.last("admin_user_ready")["outcome"] == "exists"
    row = user_row(db, "admin")
    assert row["is_active"] is False
    assert bcrypt.checkpw(b"rotated-pw", row["password_hash"].encode())


def test_reset_admin_applies_the_environment_on_request(job_env, db, capsys, monkeypatch):
    assert run_in_process(capsys, "users").code == 0
    assert run_in_process(capsys, "users", "disable", "admin").code == 0
    monkeypatch.setenv("DASHBOARD_ADMIN_EMAIL", "admin@example.org")
    reset = run_in_process(capsys, "users", "reset-admin")
    assert reset.code == 0
    assert reset.last("admin_user_ready")["outcome"] == "reset"
    row = user_row(db, "admin")
    assert row["is_active"] and row["email"] == "admin@example.org"
    assert bcrypt.checkpw(b"dev-password", row["password_hash"].encode())

    monkeypatch.delenv("DASHBOARD_ADMIN_USERNAME")
    monkeypatch.delenv("DASHBOARD_ADMIN_PASSWORD")
    missing = run_in_process(capsys, "users", "reset-admin")
    assert missing.code == 1 and "needs DASHBOARD_ADMIN_USERNAME" in missing.lines[-1]["error"]


def test_production_refuses_a_weak_demo_password(db):
    with pytest.raises(UserError, match="shorter than 12"):
        admin(db, password="Zx8-kq", app_env="prod")
    with pytest.raises(UserError, match="placeholder or demo"):
        admin(db, password="changethis-123456", app_env="prod")
    assert user_row(db, "admin") is None


def test_users_add_reads_the_password_from_stdin_never_from_argv(job_env, db):
    added = run_job(
        job_env, "users", "add", "alice", "--display-name", "Alice A.", stdin="a-long-password\n"
    )
    assert added.code == 0, added.lines[-1]
    assert added.last("user_added")["username"] == "alice"
    row = user_row(db, "alice")
    assert row["display_name"] == "Alice A." and row["is_active"]
    assert bcrypt.checkpw(b"a-long-password", row["password_hash"].encode())
    assert "a-long-password" not in str(added.lines)

    with pytest.raises(SystemExit):  # there is no way to pass a password as an argument
        build_parser().parse_args(["users", "add", "bob", "--password", "x"])

    duplicate = run_job(job_env, "users", "add", "ALICE", stdin="another-password\n")
    assert duplicate.code == 1
    assert "already exists" in duplicate.lines[-1]["error"]


def test_set_password_disable_enable_and_list(job_env, db, capsys):
    def run(*args, stdin=None):
        return run_in_process(capsys, "users", *args, stdin=stdin)

    assert run("add", "bob", stdin="first-password\n").code == 0
    assert run("set-password", "bob", stdin="second-password\n").code == 0
    assert bcrypt.checkpw(b"second-password", user_row(db, "bob")["password_hash"].encode())
    assert run("disable", "bob").code == 0
    assert user_row(db, "bob")["is_active"] is False
    listed = run("list")
    assert [(u["username"], u["active"]) for u in listed.events("user")] == [("bob", False)]
    assert "password_hash" not in str(listed.lines)

    assert run("enable", "bob").code == 0
    assert user_row(db, "bob")["is_active"] is True

    missing = run("set-password", "carol", stdin="third-password\n")
    assert missing.code == 1 and "there is no user 'carol'" in missing.lines[-1]["error"]
    empty = run("add", "dave", stdin="\n")
    assert empty.code == 1 and "no password given" in empty.lines[-1]["error"]
    bad_name = run("add", "x!", stdin="fourth-password\n")
    assert bad_name.code == 1 and "not a valid username" in bad_name.lines[-1]["error"]


def test_production_refuses_a_weak_password_for_a_new_user(job_env, db, capsys, monkeypatch):
    monkeypatch.delenv("DASHBOARD_ADMIN_USERNAME")
    monkeypatch.delenv("DASHBOARD_ADMIN_PASSWORD")
    monkeypatch.setenv("APP_ENV", "prod")
    result = run_in_process(capsys, "users", "add", "erin", stdin="short\n")
    assert result.code == 1
    assert "the password is shorter than 12 characters" in result.lines[-1]["error"]
    assert user_row(db, "erin") is None


@pytest.fixture
def env(monkeypatch):
    for name in JobSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/npscsat")
    monkeypatch.setenv("APP_ENV", "dev")
    return monkeypatch


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"JOB_BATCH_SIZE": "0"}, "JOB_BATCH_SIZE: Input should be greater than or equal to 1"),
        ({"JOB_CONCURRENCY": "many"}, "JOB_CONCURRENCY: Input should be a valid integer"),
        ({"OLLAMA_PULL_MODEL": "perhaps"}, "OLLAMA_PULL_MODEL: Input should be a valid boolean"),
        ({"JOB_WINDOW_END": "yesterday"}, "JOB_WINDOW_END: Input should be a valid date"),
        ({"OLLAMA_MODEL": " "}, "OLLAMA_MODEL: is empty"),
        ({"DASHBOARD_ADMIN_USERNAME": "a b"}, "DASHBOARD_ADMIN_USERNAME: 'a b' is not a valid"),
        ({"DASHBOARD_ADMIN_USERNAME": "admin"}, "DASHBOARD_ADMIN_PASSWORD is not set"),
        ({"DASHBOARD_ADMIN_PASSWORD": "a-password"}, "DASHBOARD_ADMIN_USERNAME is not set"),
        (
            {"DASHBOARD_ADMIN_USERNAME": "admin", "DASHBOARD_ADMIN_PASSWORD": "x" * 73},
            "DASHBOARD_ADMIN_PASSWORD is longer than 72 bytes",
        ),
        ({"DASHBOARD_ADMIN_EMAIL": "nobody"}, "DASHBOARD_ADMIN_EMAIL: 'nobody' is not an e-mail"),
        (
            {"OLLAMA_BACKOFF_SECONDS": "10", "OLLAMA_BACKOFF_MAX_SECONDS": "5"},
            "OLLAMA_BACKOFF_MAX_SECONDS must be at least OLLAMA_BACKOFF_SECONDS",
        ),
    ],
)
def test_bad_job_settings_name_the_variable(env, variables, message):
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings(JobSettings)
    assert message in str(error.value)


def test_the_defaults_match_the_contract(env):
    settings = load_settings(JobSettings)
    assert settings.job_target_responses == 1000
    assert settings.job_window_days == 180
    assert settings.dashboard_public_url == "http://localhost:8501"
    assert settings.dashboard_admin_username is None  # blank or unset: no demo user
    env.setenv("DASHBOARD_ADMIN_USERNAME", "")
    env.setenv("DASHBOARD_ADMIN_PASSWORD", "")
    assert load_settings(JobSettings).dashboard_admin_password is None
