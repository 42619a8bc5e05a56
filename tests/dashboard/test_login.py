"""The login decision, against users stored in PostgreSQL and read through the read-only role."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard import queries
from dashboard.login import LoginResult, check_login, hash_password, verify_password
from dashboard.throttle import LoginThrottle, ThrottleRules
from npscsat.errors import DatabaseUnavailable
from tests.dashboard.conftest import PASSWORD, clear_streamlit_caches, insert_user

INJECTIONS = [
    "alice' OR '1'='1",
    "'; DROP TABLE app.users; --",
    "alice'--",
    "%",
    "a" * 500,
]


@pytest.fixture
def users(db):
    clear_streamlit_caches()
    insert_user(db.engine, "alice")
    insert_user(db.engine, "retired", is_active=False)
    yield db
    clear_streamlit_caches()


@pytest.fixture
def attempt(users):
    throttle = LoginThrottle(ThrottleRules(3, 60, 300))
    decoy = hash_password("decoy", rounds=4)
    url = users.dashboard_url.render_as_string(hide_password=False)
    looked_up: list[str] = []

    def find_user(name):
        looked_up.append(name)
        return queries.find_login_user(url, name)

    def run(username, password):
        return check_login(
            username, password, throttle=throttle, find_user=find_user, decoy_hash=decoy
        )

    run.throttle = throttle
    run.looked_up = looked_up
    return run


def test_correct_password_signs_in_case_insensitively(attempt):
    outcome = attempt("ALICE ", PASSWORD)
    assert outcome.result is LoginResult.SIGNED_IN
    assert outcome.user.username == "alice"
    assert outcome.user.display_name == "Alice Example"


def test_wrong_password_and_unknown_user_read_the_same(attempt):
    wrong = attempt("alice", "not the password")
    unknown = attempt("nobody", PASSWORD)
    assert wrong.result is unknown.result is LoginResult.REJECTED
    assert wrong.message == unknown.message
    assert "Wrong username or password" in wrong.message


def test_inactive_users_cannot_sign_in(attempt):
    assert attempt("retired", PASSWORD).result is LoginResult.REJECTED


def test_empty_fields_are_not_counted(attempt):
    assert attempt("", PASSWORD).result is LoginResult.INCOMPLETE
    assert attempt("alice", "").result is LoginResult.INCOMPLETE
    assert attempt.throttle.attempts_left("alice") == 3


def test_lockout_refuses_even_the_right_password_without_a_lookup(attempt):
    for _ in range(2):
        assert attempt("alice", "guess").result is LoginResult.REJECTED
    locked = attempt("alice", "guess")
    assert locked.result is LoginResult.LOCKED
    assert "Too many failed attempts" in locked.message and "5 minutes" in locked.message
    lookups_before = len(attempt.looked_up)
    assert attempt("alice", PASSWORD).result is LoginResult.LOCKED
    assert len(attempt.looked_up) == lookups_before  # refused before any query


def test_unknown_usernames_lock_too_so_lockouts_reveal_nothing(attempt):
    for _ in range(3):
        outcome = attempt("nobody", "guess")
    assert outcome.result is LoginResult.LOCKED


@pytest.mark.parametrize("username", INJECTIONS)
def test_injection_strings_are_refused_without_reaching_sql(attempt, users, username):
    outcome = attempt(username, PASSWORD)
    assert outcome.result is LoginResult.REJECTED
    assert attempt.looked_up == []  # not a possible username: never sent to the database
    with users.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app.users")).scalar_one() == 2


@pytest.mark.parametrize("username", INJECTIONS)
def test_the_user_lookup_is_parameterised(users, username):
    # Called directly (bypassing the format check): the string is data, never SQL.
    url = users.dashboard_url.render_as_string(hide_password=False)
    assert queries.find_login_user(url, username) is None
    assert queries.find_login_user(url, "Alice").username == "alice"


def test_overlong_and_non_ascii_passwords_are_handled():
    password_hash = hash_password("pässwörd", rounds=4)
    assert verify_password("pässwörd", password_hash)
    assert not verify_password("passwort", password_hash)
    assert not verify_password("x" * 73, password_hash)  # bcrypt 5 would raise
    assert not verify_password("anything", "not-a-bcrypt-hash")


def test_database_down_raises_a_readable_error_and_counts_nothing(users):
    throttle = LoginThrottle(ThrottleRules(3, 60, 300))
    down = users.dashboard_url.set(host="127.0.0.1", port=1).render_as_string(False)
    with pytest.raises(DatabaseUnavailable, match="cannot reach PostgreSQL at") as error:
        check_login(
            "alice",
            PASSWORD,
            throttle=throttle,
            find_user=lambda name: queries.find_login_user(down, name),
            decoy_hash=hash_password("decoy", rounds=4),
        )
    assert users.dashboard_url.password not in str(error.value)
    assert throttle.attempts_left("alice") == 3
