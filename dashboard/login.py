"""The login decision: throttle first, then one parameterised lookup, then bcrypt. No Streamlit.

Kept apart from the page so every rule (lockout before the password check, unknown users cost
the same bcrypt time as known ones, junk usernames never reach SQL) is tested on its own.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import bcrypt

from dashboard.throttle import LoginThrottle
from npscsat.reporting import LoginUser

# The same rule as the users_username_format CHECK in db/init/001_core.sql: anything else
# cannot be an account, so it is refused without a query.
USERNAME_FORMAT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$")
# bcrypt looks at 72 bytes at most; bcrypt 5 refuses longer passwords instead of truncating.
BCRYPT_MAX_BYTES = 72


class LoginResult(enum.Enum):
    SIGNED_IN = "signed_in"
    REJECTED = "rejected"
    LOCKED = "locked"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class LoginOutcome:
    result: LoginResult
    user: LoginUser | None = None
    retry_after: float | None = None  # seconds, when locked
    attempts_left: int | None = None  # when rejected

    @property
    def message(self) -> str:
        """What the person at the form reads. The same words whether or not the user exists."""
        if self.result is LoginResult.SIGNED_IN:
            return "Signed in."
        if self.result is LoginResult.INCOMPLETE:
            return "Enter your username and password."
        if self.result is LoginResult.LOCKED:
            minutes = max(1, math.ceil((self.retry_after or 0) / 60))
            return (
                "Too many failed attempts for this username. Login is blocked for "
                f"{minutes} minute{'s' if minutes != 1 else ''}; try again later."
            )
        left = self.attempts_left or 0
        return (
            f"Wrong username or password. {left} attempt{'s' if left != 1 else ''} left "
            "before this username is blocked for a while."
        )


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash (used for the decoy below and by tests that create users)."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:  # a malformed hash cannot match
        return False


def check_login(
    username: str,
    password: str,
    *,
    throttle: LoginThrottle,
    find_user: Callable[[str], LoginUser | None],
    decoy_hash: str,
) -> LoginOutcome:
    """Decides one login attempt. `find_user` may raise (database down): nothing is counted then.

    A locked username is refused before its password is looked at, so a correct guess during
    the lockout does not help. Unknown and malformed usernames are checked against a decoy hash,
    so response time does not reveal which accounts exist, and they are counted like real ones.
    """
    username = username.strip()
    if not username or not password:
        return LoginOutcome(LoginResult.INCOMPLETE)
    retry_after = throttle.retry_after(username)
    if retry_after is not None:
        return LoginOutcome(LoginResult.LOCKED, retry_after=retry_after)
    user = find_user(username) if USERNAME_FORMAT.match(username) else None
    if verify_password(password, user.password_hash if user else decoy_hash) and user:
        throttle.record_success(username)
        return LoginOutcome(LoginResult.SIGNED_IN, user=user)
    lockout = throttle.record_failure(username)
    if lockout is not None:
        return LoginOutcome(LoginResult.LOCKED, retry_after=lockout)
    return LoginOutcome(LoginResult.REJECTED, attempts_left=throttle.attempts_left(username))
