"""The failed-login throttle and the logout registry, with a clock the test moves."""

from __future__ import annotations

import threading

import pytest

from dashboard.throttle import LoginThrottle, LogoutRegistry, ThrottleRules


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttle(clock) -> LoginThrottle:
    return LoginThrottle(ThrottleRules(3, window_seconds=60, lockout_seconds=300), clock=clock)


def test_locks_after_max_failures_inside_the_window(throttle, clock):
    assert throttle.record_failure("alice") is None
    assert throttle.attempts_left("alice") == 2
    clock.now += 10
    assert throttle.record_failure("alice") is None
    assert throttle.record_failure("Alice ") == 300  # same user: case and spaces ignored
    assert throttle.retry_after("ALICE") == pytest.approx(300)
    assert throttle.attempts_left("alice") == 0
    clock.now += 299
    assert throttle.retry_after("alice") == pytest.approx(1)
    clock.now += 1
    assert throttle.retry_after("alice") is None
    assert throttle.attempts_left("alice") == 3  # a fresh start after the lockout


def test_failures_outside_the_window_are_forgotten(throttle, clock):
    throttle.record_failure("bob")
    throttle.record_failure("bob")
    clock.now += 61
    assert throttle.attempts_left("bob") == 3
    assert throttle.record_failure("bob") is None
    assert throttle.retry_after("bob") is None


def test_failures_while_locked_do_not_extend_the_lockout(throttle, clock):
    for _ in range(3):
        throttle.record_failure("carol")
    clock.now += 100
    assert throttle.record_failure("carol") == pytest.approx(200)
    assert throttle.retry_after("carol") == pytest.approx(200)


def test_success_clears_the_record_and_users_are_independent(throttle):
    throttle.record_failure("dave")
    throttle.record_failure("dave")
    throttle.record_success("dave")
    assert throttle.attempts_left("dave") == 3
    for _ in range(3):
        throttle.record_failure("erin")
    assert throttle.retry_after("erin") is not None
    assert throttle.retry_after("dave") is None


def test_flooding_with_random_names_neither_grows_memory_nor_lifts_a_lockout(clock):
    throttle = LoginThrottle(ThrottleRules(2, 60, 300), clock=clock, max_tracked=10)
    throttle.record_failure("victim")
    throttle.record_failure("victim")
    for i in range(100):
        throttle.record_failure(f"random{i}")
    assert len(throttle._records) <= 10
    assert throttle.retry_after("victim") is not None


def test_counting_is_exact_under_concurrent_sessions():
    throttle = LoginThrottle(ThrottleRules(1000, 3600, 60))
    threads = [
        threading.Thread(target=lambda: [throttle.record_failure("x") for _ in range(100)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert throttle.attempts_left("x") == 1000 - 800


def test_rules_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        ThrottleRules(0, 60, 60)


def test_logout_revokes_cookies_issued_before_it(clock):
    registry = LogoutRegistry(clock=clock)
    issued_earlier = clock.now - 10
    assert not registry.is_revoked("alice", issued_earlier)
    registry.record_logout("Alice")
    assert registry.is_revoked("alice", issued_earlier)
    assert registry.is_revoked("alice", clock.now)
    assert not registry.is_revoked("alice", clock.now + 1)  # a later login is valid
    assert not registry.is_revoked("bob", issued_earlier)
