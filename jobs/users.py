"""Dashboard users in app.users: the demo admin from the environment, and the `users` commands.

Passwords are stored as bcrypt hashes only (the table refuses anything else). They are read
from a prompt or from stdin, never from the command line, where `ps` and shell history would
show them. Rows are read and written through the SQLModel `User` model: these are small,
single-row writes, which is what the ORM is for (bulk loads of responses use COPY).

The admin from DASHBOARD_ADMIN_USERNAME / DASHBOARD_ADMIN_PASSWORD is created when it is missing
and otherwise left alone, so a scheduled run never undoes `users disable` or `users
set-password`; `users reset-admin` applies the environment to an existing admin on purpose.
Changing a password or disabling a user ends that user's open dashboard sessions (a trigger in
db/init/005_login_state.sql).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal, TextIO

import structlog
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from jobs.config import EMAIL
from jobs.errors import UserError
from npscsat.config import AppEnv
from npscsat.login import hash_password, password_problem, username_problem
from npscsat.models import User

log = structlog.get_logger("jobs.users")


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


def check_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if not 1 <= len(display_name) <= 100:
        raise UserError("the display name must be 1 to 100 characters")
    return display_name


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


def _find(session: Session, username: str) -> User | None:
    """Usernames ignore case, as the unique index on lower(username) does."""
    return session.exec(
        select(User).where(func.lower(User.username) == username.lower())
    ).one_or_none()


def _require(session: Session, username: str) -> User:
    user = _find(session, username)
    if user is None:
        raise UserError(f"there is no user '{username}'; add it with `users add {username}`")
    return user


def _create(
    engine: Engine, username: str, password: str, display_name: str, email: str | None
) -> bool:
    """Inserts a new user; False when one with this name (in any case) exists already."""
    with Session(engine) as session:
        if _find(session, username) is not None:
            return False
        session.add(
            User(
                username=username,
                display_name=display_name,
                email=email,
                password_hash=hash_password(password),
            )
        )
        try:
            session.commit()
        except IntegrityError:  # added by someone else since the lookup
            return False
    return True


def ensure_admin(
    engine: Engine,
    *,
    username: str,
    password: str,
    display_name: str,
    email: str | None,
    app_env: AppEnv,
    reset: bool = False,
) -> Literal["created", "exists", "reset"]:
    """Creates the admin when it is missing. An existing admin is left as it is (not even
    re-enabled), so a nightly run keeps what an operator did with `users`; only `reset` (the
    `users reset-admin` command) applies the password, display name, e-mail (when given) and
    enables it, which also ends its open sessions."""
    check_username(username)
    check_password(password, app_env, "DASHBOARD_ADMIN_PASSWORD")
    check_email(email)
    display_name = check_display_name(display_name)
    if _create(engine, username, password, display_name, email):
        log.info("admin_user_ready", username=username, outcome="created")
        return "created"
    with Session(engine) as session:
        user = _require(session, username)
        if not reset:
            log.info(
                "admin_user_ready",
                username=user.username,
                outcome="exists",
                active=user.is_active,
                detail="left as it is; `python -m jobs users reset-admin` applies "
                "DASHBOARD_ADMIN_PASSWORD to it",
            )
            return "exists"
        user.password_hash = hash_password(password)
        user.display_name = display_name
        user.email = email or user.email
        user.is_active = True
        session.add(user)
        session.commit()
    log.info("admin_user_ready", username=username, outcome="reset")
    return "reset"


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
    if not _create(engine, username, password, check_display_name(display_name or username), email):
        raise UserError(
            f"user '{username}' already exists (usernames ignore case); "
            "use `users set-password` to change its password"
        )
    log.info("user_added", username=username)


def set_password(engine: Engine, username: str, password: str, *, app_env: AppEnv) -> None:
    check_password(password, app_env)
    with Session(engine) as session:
        user = _require(session, username)
        user.password_hash = hash_password(password)
        session.add(user)
        session.commit()
    log.info("user_password_set", username=username, sessions="ended")


def set_active(engine: Engine, username: str, active: bool) -> None:
    with Session(engine) as session:
        user = _require(session, username)
        user.is_active = active
        session.add(user)
        session.commit()
    if active:
        log.info("user_enabled", username=username)
    else:
        log.info("user_disabled", username=username, sessions="ended")


def list_users(engine: Engine) -> list[UserRow]:
    with Session(engine) as session:
        users = session.exec(select(User).order_by(User.username)).all()
        return [UserRow(u.username, u.display_name, u.email, u.is_active) for u in users]
