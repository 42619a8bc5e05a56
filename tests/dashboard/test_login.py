"""The login decision and the login state, against users stored in PostgreSQL and read and
recorded through the read-only role (two engines stand for two dashboard replicas)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard import queries
from dashboard.login import BcryptGate, LoginResult, check_login
from dashboard.login_state import LoginStateStore, ThrottleRules
from jobs import users
from npscsat.db import create_db_engine
from npscsat.errors import DatabaseUnavailable
from npscsat.login import hash_password, verify_password
from tests.dashboard.conftest import PASSWORD, clear_streamlit_caches, insert_user

INJECTIONS = [
    "alice' OR '1'='1",
    "'; DROP TABLE app.users; --",
    "alice'--",
    "%",
    "a" * 500,
    "nul\x00byte",
]
RULES = ThrottleRules(
    max_failures=3, max_address_failures=4, window_seconds=60, lockout_seconds=300
)


@pytest.fixture
def users_db(db):
    clear_streamlit_caches()
    insert_user(db.engine, "alice")
    insert_user(db.engine, "retired", is_active=False)
    yield db
    clear_streamlit_caches()


@pytest.fixture
def replica(users_db):
    """A factory of dashboard replicas: each its own engine (own connections) on the database."""
    engines = []

    def make(rules: ThrottleRules = RULES) -> LoginStateStore:
        engine = create_db_engine(users_db.dashboard_url, application_name="npscsat-tests-replica")
        engines.append(engine)
        return LoginStateStore(engine, rules, session_seconds=3600)

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def attempt(users_db, replica):
    """Login attempts against one replica; `.on(store)` tries on another one."""
    decoy = hash_password("decoy", rounds=4)
    url = users_db.dashboard_url.render_as_string(hide_password=False)
    looked_up: list[str] = []
    gate = BcryptGate(2)
    default_store = replica()

    def find_user(name):
        looked_up.append(name)
        return queries.find_login_user(url, name)

    def run(username, password, address=None, store=None):
        return check_login(
            username,
            password,
            address=address,
            state=store or default_store,
            find_user=find_user,
            decoy_hash=decoy,
            gate=gate,
        )

    run.store = default_store
    run.looked_up = looked_up
    return run


def test_correct_password_signs_in_case_insensitively_and_starts_a_session(attempt):
    outcome = attempt("ALICE ", PASSWORD)
    assert outcome.result is LoginResult.SIGNED_IN
    assert outcome.user.username == "alice"
    assert outcome.user.display_name == "Alice Example"
    assert attempt.store.session_user(outcome.session_id).username == "alice"


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
    assert attempt("alice", "guess").attempts_left == 2  # the first counted failure


def test_lockout_refuses_even_the_right_password_without_a_lookup(attempt):
    for _ in range(2):
        assert attempt("alice", "guess").result is LoginResult.REJECTED
    locked = attempt("alice", "guess")
    assert locked.result is LoginResult.LOCKED
    assert "Too many failed attempts for this username" in locked.message
    assert "5 minutes" in locked.message
    lookups_before = len(attempt.looked_up)
    assert attempt("alice", PASSWORD).result is LoginResult.LOCKED
    assert len(attempt.looked_up) == lookups_before  # refused before any user lookup


def test_a_lockout_on_one_replica_holds_on_another_and_after_a_restart(attempt, replica):
    replica_a, replica_b = attempt.store, replica()
    for _ in range(3):
        attempt("alice", "guess", store=replica_a)
    assert attempt("Alice", PASSWORD, store=replica_b).result is LoginResult.LOCKED
    replica_a.engine.dispose()
    replica_b.engine.dispose()  # a deploy restarts both: nothing lived in their memory
    assert attempt("alice", PASSWORD, store=replica()).result is LoginResult.LOCKED


def test_failures_on_two_replicas_add_up(attempt, replica):
    other = replica()
    attempt("alice", "guess")
    attempt("alice", "guess", store=other)
    assert attempt("alice", "guess").result is LoginResult.LOCKED  # 3rd failure, either replica


def test_unknown_usernames_lock_too_so_lockouts_reveal_nothing(attempt):
    for _ in range(3):
        outcome = attempt("nobody", "guess")
    assert outcome.result is LoginResult.LOCKED


def test_one_password_sprayed_over_many_usernames_locks_the_address(attempt, replica):
    sprayer, neighbour = "203.0.113.9", "198.51.100.20"
    for name in ("bob", "carol", "dave"):
        assert attempt(name, "Summer2026!", sprayer).result is LoginResult.REJECTED
    fourth = attempt("erin", "Summer2026!", sprayer)
    assert fourth.result is LoginResult.LOCKED
    assert "from your network" in fourth.message
    lookups_before = len(attempt.looked_up)
    # Even alice's right password is refused from that address, on any replica, unchecked ...
    assert attempt("alice", PASSWORD, sprayer, store=replica()).result is LoginResult.LOCKED
    assert len(attempt.looked_up) == lookups_before
    # ... but not from another address.
    assert attempt("alice", PASSWORD, neighbour).result is LoginResult.SIGNED_IN


def test_a_success_clears_the_username_count_but_not_the_address_count(attempt):
    address = "203.0.113.10"
    attempt("alice", "guess", address)
    attempt("alice", "guess", address)
    assert attempt("alice", PASSWORD, address).result is LoginResult.SIGNED_IN
    assert attempt("alice", "guess", address).attempts_left == 2  # username count restarted
    # the address has 3 failures of its 4: one more locks it, whichever username
    assert attempt("zed", "guess", address).result is LoginResult.LOCKED


def test_ipv6_clients_of_one_network_share_their_count(attempt):
    for host in ("1", "2", "3", "4"):
        outcome = attempt(f"user{host}", "guess", "2001:db8:5:7::/64")
    assert outcome.result is LoginResult.LOCKED


@pytest.mark.parametrize("username", INJECTIONS)
def test_injection_strings_are_refused_without_reaching_the_user_lookup(
    attempt, users_db, username
):
    outcome = attempt(username, PASSWORD)
    assert outcome.result is LoginResult.REJECTED
    assert attempt.looked_up == []  # not a possible username: never looked up
    with users_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app.users")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM app.login_failure")).scalar_one() == 1


@pytest.mark.parametrize("username", INJECTIONS[:-1])
def test_the_user_lookup_is_parameterised(users_db, username):
    # Called directly (bypassing the format check): the string is data, never SQL.
    url = users_db.dashboard_url.render_as_string(hide_password=False)
    assert queries.find_login_user(url, username) is None
    assert queries.find_login_user(url, "Alice").username == "alice"


def test_overlong_and_non_ascii_passwords_are_handled():
    password_hash = hash_password("pässwörd", rounds=4)
    assert verify_password("pässwörd", password_hash)
    assert not verify_password("passwort", password_hash)
    assert not verify_password("x" * 73, password_hash)  # bcrypt 5 would raise
    assert not verify_password("anything", "not-a-bcrypt-hash")


def test_bcrypt_checks_are_capped_and_a_busy_attempt_is_not_counted(users_db, replica):
    gate = BcryptGate(1, wait_seconds=0.2)
    with gate.slot() as held:  # the one slot is taken by another attempt
        assert held
        outcome = check_login(
            "alice",
            PASSWORD,
            address=None,
            state=replica(),
            find_user=lambda name: None,
            decoy_hash=hash_password("decoy", rounds=4),
            gate=gate,
        )
    assert outcome.result is LoginResult.BUSY
    assert "try again in a few seconds" in outcome.message
    with users_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app.login_failure")).scalar_one() == 0
    assert gate.verify("x", hash_password("x", rounds=4)) is True  # the slot came back


def test_a_session_ends_with_logout_password_change_or_disabling(attempt, users_db):
    def signed_in():
        return attempt("alice", PASSWORD).session_id

    session = signed_in()
    attempt.store.end_session(session)
    assert attempt.store.session_user(session) is None  # logout

    session = signed_in()
    users.set_password(users_db.engine, "alice", "a-new-long-password", app_env="dev")
    assert attempt.store.session_user(session) is None  # password changed
    with users_db.engine.begin() as conn:
        conn.execute(
            text("UPDATE app.users SET password_hash = :h WHERE username = 'alice'"),
            {"h": hash_password(PASSWORD, rounds=4)},
        )

    session = signed_in()
    users.set_active(users_db.engine, "alice", False)
    assert attempt.store.session_user(session) is None  # disabled
    users.set_active(users_db.engine, "alice", True)
    assert attempt.store.session_user(session) is None  # re-enabling revives no old session

    session = signed_in()
    with users_db.engine.begin() as conn:
        conn.execute(text("UPDATE app.login_session SET expires_at = now() - interval '1 s'"))
    assert attempt.store.session_user(session) is None  # expired
    assert attempt.store.session_user("not-a-session-id") is None


def test_database_down_raises_a_readable_error_and_counts_nothing(users_db):
    down_url = users_db.dashboard_url.set(host="127.0.0.1", port=1)
    down = LoginStateStore(create_db_engine(down_url, application_name="t"), RULES, 3600)
    with pytest.raises(DatabaseUnavailable, match="cannot reach PostgreSQL at") as error:
        check_login(
            "alice",
            PASSWORD,
            address=None,
            state=down,
            find_user=lambda name: queries.find_login_user(down_url.render_as_string(False), name),
            decoy_hash=hash_password("decoy", rounds=4),
            gate=BcryptGate(1),
        )
    assert users_db.dashboard_url.password not in str(error.value)
    with users_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app.login_failure")).scalar_one() == 0
