"""Dashboard users in app.users: the demo admin from the environment, and the `users` commands.

Passwords are stored as bcrypt hashes only (the table refuses anything else). They are read
from a prompt or from stdin, never from the command line, where `ps` and shell history would
show them.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal, TextIO

import bcrypt
import structlog
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from jobs.config import EMAIL, password_problem, username_problem
from jobs.errors import UserError
from npscsat.config import AppEnv

log = structlog.get_logger("jobs.users")
BCRYPT_ROUNDS = 12  # ~0.2 s per hash here: slow for guessing, fine for a login


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def password_matches(password: str, password_hash: str) -> bool:
    return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))


def check_username(username: str) -> str:
    if problem := username_problem(username):
        raise UserError(problem)
    return username


def check_password(password: str, app_env: AppEnv, what: str = "the password") -> str:
    if problem := password_problem(password, app_env):
        raise UserError(f"{what} {problem}")
    return password


def check_email(email: str | None) -> str | None:
    if email is not None and not EMAIL.match(email):
        raise UserError(f"'{email}' is not an e-mail address")
    return email


def read_new_password(stdin: TextIO, *, prompt: bool) -> str:
    """From a prompt (typed twice) on a terminal, else the first line of stdin."""
    if prompt:
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat the password: ") != first:
            raise UserError("the two passwords differ; nothing was changed")
        password = first
    else:
        password = stdin.readline().rstrip("\r\n")
    if not password:
        raise UserError("no password given (type it at the prompt, or pipe it on stdin)")
    return password


@dataclass(frozen=True)
class UserRow:
    username: str
    display_name: str
    email: str | None
    is_active: bool


def _find(conn, username: str):
    return conn.execute(
        text(
            "SELECT id, username, password_hash, display_name, is_active FROM app.users "
            "WHERE lower(username) = lower(:username)"
        ),
        {"username": username},
    ).first()


def _insert(conn, username: str, password: str, display_name: str, email: str | None) -> None:
    conn.execute(
        text(
            "INSERT INTO app.users (username, display_name, email, password_hash) "
            "VALUES (:username, :display_name, :email, :hash)"
        ),
        {
            "username": username,
            "display_name": display_name,
            "email": email,
            "hash": hash_password(password),
        },
    )


def ensure_admin(
    engine: Engine,
    *,
    username: str,
    password: str,
    display_name: str,
    email: str | None,
    app_env: AppEnv,
) -> Literal["created", "updated", "unchanged"]:
    """Creates the demo user or brings it in line with the environment (active, same password).
    The hash is only replaced when the password changed, so re-runs leave the row alone."""
    check_username(username)
    check_password(password, app_env, "DASHBOARD_ADMIN_PASSWORD")
    check_email(email)
    with engine.begin() as conn:
        row = _find(conn, username)
        if row is None:
            _insert(conn, username, password, display_name, email)
            outcome = "created"
        elif (
            row.is_active
            and row.display_name == display_name
            and password_matches(password, row.password_hash)
        ):
            outcome = "unchanged"
        else:
            new_hash = (
                row.password_hash
                if password_matches(password, row.password_hash)
                else hash_password(password)
            )
            conn.execute(
                text(
                    "UPDATE app.users SET password_hash = :hash, display_name = :display_name, "
                    "email = coalesce(:email, email), is_active = true WHERE id = :id"
                ),
                {"id": row.id, "hash": new_hash, "display_name": display_name, "email": email},
            )
            outcome = "updated"
    log.info("admin_user_ready", username=username, outcome=outcome)
    return outcome


def add_user(
    engine: Engine,
    username: str,
    password: str,
    *,
    display_name: str | None,
    email: str | None,
    app_env: AppEnv,
) -> None:
    check_username(username)
    check_password(password, app_env)
    check_email(email)
    display_name = (display_name or username).strip()
    if not 1 <= len(display_name) <= 100:
        raise UserError("the display name must be 1 to 100 characters")
    exists = UserError(
        f"user '{username}' already exists (usernames ignore case); "
        "use `users set-password` to change its password"
    )
    with engine.connect() as conn:
        if _find(conn, username) is not None:
            raise exists
    try:
        with engine.begin() as conn:
            _insert(conn, username, password, display_name, email)
    except IntegrityError:  # added by someone else since the check above
        raise exists from None
    log.info("user_added", username=username)


def set_password(engine: Engine, username: str, password: str, *, app_env: AppEnv) -> None:
    check_password(password, app_env)
    with engine.begin() as conn:
        updated = conn.execute(
            text(
                "UPDATE app.users SET password_hash = :hash "
                "WHERE lower(username) = lower(:username)"
            ),
            {"username": username, "hash": hash_password(password)},
        ).rowcount
    if not updated:
        raise UserError(f"there is no user '{username}'; add it with `users add {username}`")
    log.info("user_password_set", username=username)


def set_active(engine: Engine, username: str, active: bool) -> None:
    with engine.begin() as conn:
        updated = conn.execute(
            text(
                "UPDATE app.users SET is_active = :active WHERE lower(username) = lower(:username)"
            ),
            {"username": username, "active": active},
        ).rowcount
    if not updated:
        raise UserError(f"there is no user '{username}'")
    log.info("user_enabled" if active else "user_disabled", username=username)


def list_users(engine: Engine) -> list[UserRow]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT username, display_name, email, is_active FROM app.users ORDER BY username")
        )
        return [UserRow(*row) for row in rows]
