"""Database connections: one way to turn a DATABASE_URL into an engine."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from npscsat.config import AppEnv, secret_problem
from npscsat.errors import ConfigError, DatabaseUnavailable

# SQLAlchemy 2.1 maps a plain postgresql:// URL to psycopg 3; we ship psycopg2.
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg2"}


def parse_database_url(url: str | None, variable: str = "DATABASE_URL") -> URL:
    """Accepts the URLs people write (postgres://, postgresql://) and pins the psycopg2 driver."""
    if not url or not url.strip():
        raise ConfigError(f"{variable} is not set (see .env.example)")
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise ConfigError(
            f"{variable} is not a valid URL; expected postgresql://USER:PASSWORD@HOST:PORT/DB"
        ) from None
    if parsed.drivername not in _POSTGRES_SCHEMES:
        raise ConfigError(
            f"{variable} must be a PostgreSQL URL (postgresql://...), got scheme "
            f"'{parsed.drivername}'"
        )
    if not parsed.database:
        raise ConfigError(f"{variable} names no database; add /DBNAME at the end")
    if parsed.password == "":
        # postgresql://user:@host/db - compose builds this when the password variable is unset.
        raise ConfigError(
            f"{variable} has an empty password (in compose it is built from POSTGRES_PASSWORD "
            "or DASHBOARD_DB_PASSWORD; see .env.example)"
        )
    return parsed.set(drivername="postgresql+psycopg2")


def url_password_problem(url: URL, variable: str, app_env: AppEnv) -> str | None:
    """In production, the password inside a database URL follows the same secret rules."""
    if url.password is None:
        return None  # trust, certificate or PGPASSWORD authentication
    problem = secret_problem(str(url.password), app_env)
    return f"{variable} password {problem}" if problem else None


def describe_url(url: URL) -> str:
    """The URL without its password, for log lines and error messages."""
    return url.render_as_string(hide_password=True)


def create_db_engine(
    url: URL, *, application_name: str, connect_timeout: int = 5, **engine_options
) -> Engine:
    """An engine with a bounded connect time, so a down database fails fast and clearly.
    PostgreSQL URLs always get the psycopg2 driver, whichever spelling they came in."""
    if url.drivername in _POSTGRES_SCHEMES:
        url = url.set(drivername="postgresql+psycopg2")
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": connect_timeout, "application_name": application_name},
        **engine_options,
    )


def ensure_reachable(engine: Engine) -> None:
    """Opens one connection, or raises DatabaseUnavailable naming the server (not the password)."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {describe_url(engine.url)}: {reason}"
        ) from None
