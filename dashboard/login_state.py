"""Login state in PostgreSQL, shared by every replica and kept across restarts: lockouts per
username and per client address, and login sessions (see db/init/005_login_state.sql).

The dashboard's role writes nothing but through the narrow SECURITY DEFINER functions of that
file. Its transactions are read-only by default, so the calls that record something lift that
for their own transaction; every other statement stays read-only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, text

from dashboard.queries import readable_errors

# Junk usernames are counted too (so a lockout reveals nothing), under their first 64
# characters: the functions refuse longer subjects.
MAX_SUBJECT_CHARS = 64


@dataclass(frozen=True)
class ThrottleRules:
    max_failures: int = 5  # per username inside the window
    max_address_failures: int = 20  # per client address inside the window
    window_seconds: int = 900
    lockout_seconds: int = 900


@dataclass(frozen=True)
class Lock:
    locked_by: Literal["username", "address"]
    retry_after: float  # seconds


@dataclass(frozen=True)
class Failure:
    lock: Lock | None  # the lock this attempt is now under, if any
    attempts_left: int  # for the username


@dataclass(frozen=True)
class SessionUser:
    username: str
    display_name: str
    email: str | None


def session_id_or_nil(value: object) -> str:
    """A session id in canonical form; anything that is not a UUID becomes the nil UUID, which
    names no session."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(uuid.UUID(int=0))


def login_subject(username: str) -> str:
    """What a login attempt is counted under: the username as typed (case and surrounding
    spaces are folded in the database), bounded, never empty, never a NUL."""
    return username.replace("\x00", "")[:MAX_SUBJECT_CHARS] or "?"


class LoginStateStore:
    def __init__(self, engine: Engine, rules: ThrottleRules, session_seconds: int) -> None:
        self.engine = engine
        self.rules = rules
        self.session_seconds = session_seconds

    def lock(self, username: str, address: str | None) -> Lock | None:
        row = self._read(
            "SELECT locked_by, retry_after_seconds FROM app.login_lock(:username, :address)",
            username=login_subject(username),
            address=address,
        )
        return Lock(row.locked_by, float(row.retry_after_seconds)) if row else None

    def record_failure(self, username: str, address: str | None) -> Failure:
        row = self._write(
            "SELECT locked_by, retry_after_seconds, attempts_left FROM app.record_login_failure("
            ":username, :address, :max_failures, :max_address_failures, :window, :lockout)",
            username=login_subject(username),
            address=address,
            max_failures=self.rules.max_failures,
            max_address_failures=self.rules.max_address_failures,
            window=self.rules.window_seconds,
            lockout=self.rules.lockout_seconds,
        )
        lock = Lock(row.locked_by, float(row.retry_after_seconds)) if row.locked_by else None
        return Failure(lock, int(row.attempts_left))

    def record_success(self, username: str, address: str | None) -> str | None:
        """Starts a session and returns its id; None when the user was disabled a moment ago."""
        row = self._write(
            "SELECT app.record_login_success(:username, :address, :seconds) AS session_id",
            username=login_subject(username),
            address=address,
            seconds=self.session_seconds,
        )
        return None if row.session_id is None else str(row.session_id)

    def end_session(self, session_id: str) -> None:
        self._write(
            "SELECT app.end_login_session(CAST(:session_id AS uuid))",
            session_id=session_id_or_nil(session_id),
        )

    def session_user(self, session_id: str) -> SessionUser | None:
        """The user of a session that still counts, or None (ended, expired, user disabled)."""
        row = self._read(
            "SELECT username, display_name, email "
            "FROM app.login_session_user(CAST(:session_id AS uuid))",
            session_id=session_id_or_nil(session_id),
        )
        return SessionUser(row.username, row.display_name, row.email) if row else None

    def _read(self, statement: str, **params):
        with readable_errors(self.engine), self.engine.connect() as conn:
            return conn.execute(text(statement), params).first()

    def _write(self, statement: str, **params):
        with readable_errors(self.engine), self.engine.begin() as conn:
            _read_write(conn)
            return conn.execute(text(statement), params).one()


def _read_write(conn: Connection) -> None:
    # The role's default is read-only; only this transaction, which calls one function, writes.
    conn.execute(text("SET TRANSACTION READ WRITE"))
