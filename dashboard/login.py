"""The login decision: lockouts first, then one parameterised lookup, then bcrypt. No Streamlit.

Kept apart from the page so every rule (a locked username or address is refused before its
password is checked, unknown users cost the same bcrypt time as known ones, junk usernames never
reach the user lookup, bcrypt checks are capped per process) is tested on its own. The state
behind the lockouts lives in PostgreSQL (dashboard.login_state), shared by every replica.
"""

from __future__ import annotations

import contextlib
import enum
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dashboard.login_state import Lock, LoginStateStore
from npscsat.login import is_username, verify_password
from npscsat.reporting import LoginUser

# How long an attempt waits for a free bcrypt slot before it is told to try again.
BCRYPT_WAIT_SECONDS = 3.0


class LoginResult(enum.Enum):
    SIGNED_IN = "signed_in"
    REJECTED = "rejected"
    LOCKED = "locked"
    INCOMPLETE = "incomplete"
    BUSY = "busy"


@dataclass(frozen=True)
class LoginOutcome:
    result: LoginResult
    user: LoginUser | None = None
    session_id: str | None = None  # when signed in
    lock: Lock | None = None  # when locked
    attempts_left: int | None = None  # when rejected

    @property
    def retry_after(self) -> float | None:
        return self.lock.retry_after if self.lock else None

    @property
    def message(self) -> str:
        """What the person at the form reads. The same words whether or not the user exists."""
        if self.result is LoginResult.SIGNED_IN:
            return "Signed in."
        if self.result is LoginResult.INCOMPLETE:
            return "Enter your username and password."
        if self.result is LoginResult.BUSY:
            return "Too many logins are being checked right now; try again in a few seconds."
        if self.result is LoginResult.LOCKED:
            minutes = max(1, math.ceil((self.retry_after or 0) / 60))
            who = (
                "from your network"
                if self.lock and self.lock.locked_by == "address"
                else "for this username"
            )
            return (
                f"Too many failed attempts {who}. Login is blocked for "
                f"{minutes} minute{'s' if minutes != 1 else ''}; try again later."
            )
        left = self.attempts_left or 0
        return (
            f"Wrong username or password. {left} attempt{'s' if left != 1 else ''} left "
            "before this username is blocked for a while."
        )


class BcryptGate:
    """A ceiling on concurrent bcrypt checks in this process: each costs about 0.2 s of CPU, so
    a flood of attempts cannot take every core from the people reading the dashboard."""

    def __init__(self, slots: int, wait_seconds: float = BCRYPT_WAIT_SECONDS) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._wait_seconds = wait_seconds

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """Holds one slot while inside; yields False when none came free in time."""
        acquired = self._slots.acquire(timeout=self._wait_seconds)
        try:
            yield acquired
        finally:
            if acquired:
                self._slots.release()

    def verify(self, password: str, password_hash: str) -> bool | None:
        """Whether the password matches, or None when no slot came free in time."""
        with self.slot() as acquired:
            return verify_password(password, password_hash) if acquired else None


def check_login(
    username: str,
    password: str,
    *,
    address: str | None,
    state: LoginStateStore,
    find_user: Callable[[str], LoginUser | None],
    decoy_hash: str,
    gate: BcryptGate,
) -> LoginOutcome:
    """Decides one login attempt. `state` and `find_user` may raise (database down): nothing is
    counted then.

    A locked username or client address is refused before the password is looked at, so a
    correct guess during the lockout does not help. Unknown and malformed usernames are checked
    against a decoy hash, so response time does not reveal which accounts exist, and they are
    counted like real ones. An attempt that finds no free bcrypt slot is not counted.
    """
    username = username.strip()
    if not username or not password:
        return LoginOutcome(LoginResult.INCOMPLETE)
    lock = state.lock(username, address)
    if lock is not None:
        return LoginOutcome(LoginResult.LOCKED, lock=lock)
    user = find_user(username) if is_username(username) else None
    matched = gate.verify(password, user.password_hash if user else decoy_hash)
    if matched is None:
        return LoginOutcome(LoginResult.BUSY)
    if matched and user:
        session_id = state.record_success(user.username, address)
        if session_id is not None:  # None: disabled since the lookup, so a failure after all
            return LoginOutcome(LoginResult.SIGNED_IN, user=user, session_id=session_id)
    failure = state.record_failure(username, address)
    if failure.lock is not None:
        return LoginOutcome(LoginResult.LOCKED, lock=failure.lock)
    return LoginOutcome(LoginResult.REJECTED, attempts_left=failure.attempts_left)
