"""The login rules shared by the job (which stores users) and the dashboard (which checks them):
one username pattern, one hash, one bcrypt limit. No I/O."""

from __future__ import annotations

import re

import bcrypt

from npscsat.config import AppEnv, secret_problem

# The same rule as the users_username_format CHECK in db/init/001_core.sql.
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$")
# bcrypt looks at 72 bytes at most; bcrypt 5 refuses longer passwords instead of truncating.
BCRYPT_MAX_BYTES = 72
BCRYPT_ROUNDS = 12  # about 0.2 s per hash on the build machine: slow for guessing, fine for a login


def is_username(value: str) -> bool:
    """True when `value` could name an account (anything else is refused without a query)."""
    return bool(USERNAME_PATTERN.match(value))


def username_problem(value: str) -> str | None:
    if not is_username(value):
        return (
            f"'{value}' is not a valid username: 3 to 32 characters, letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return None


def password_problem(value: str, app_env: AppEnv) -> str | None:
    """Why a new dashboard password is unacceptable, or None (bcrypt's limit plus the secret
    rules of this environment)."""
    if len(value.encode("utf-8")) > BCRYPT_MAX_BYTES:
        return f"is longer than {BCRYPT_MAX_BYTES} bytes, the most bcrypt can use"
    return secret_problem(value, app_env)


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash of `password` (the only form app.users accepts)."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether `password` matches; False (never an exception) for an over-long password or a
    malformed hash."""
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        return False
