"""Throwaway PostgreSQL databases for the tests and the benchmarks.

Where the server comes from, in order:
1. TEST_DATABASE_URL, if set: an admin URL of a server we may create databases on (CI uses
   this with its service container). If it cannot be reached, the tests fail and say so.
2. The local server at postgresql://postgres@127.0.0.1:5432/postgres, if it answers.
3. Otherwise an embedded server (the `pgserver` package, PostgreSQL 16 in a temporary
   directory, started in about 1.5 s and stopped at the end). Run as root, pgserver creates a
   system user `pgserver` to own the data directory, because PostgreSQL refuses to run as root.

Database tests never skip: a missing server is started, not ignored.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import URL, make_url

LOCAL_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _reachable(url: URL) -> str | None:
    """None if a connection works, else the reason."""
    try:
        psycopg2.connect(**connect_kwargs(url), connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return str(exc).strip().splitlines()[0]
    return None


def connect_kwargs(url: URL) -> dict:
    kwargs = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    kwargs.update(url.query)  # e.g. ?host=/socket/dir from pgserver
    return {k: v for k, v in kwargs.items() if v is not None}


@contextlib.contextmanager
def admin_server() -> Iterator[URL]:
    """Yields an admin URL of a PostgreSQL server, starting an embedded one if needed."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        url = make_url(configured)
        problem = _reachable(url)
        if problem:
            raise RuntimeError(f"TEST_DATABASE_URL cannot be reached: {problem}")
        yield url
        return
    local = make_url(LOCAL_ADMIN_URL)
    if _reachable(local) is None:
        yield local
        return
    import pgserver  # dev dependency; only needed on machines without a PostgreSQL server

    with tempfile.TemporaryDirectory(prefix="npscsat-pg-") as data_dir:
        os.chmod(data_dir, 0o777)  # as root, pgserver's own system user must write here
        server = pgserver.get_server(Path(data_dir) / "pgdata", cleanup_mode="stop")
        try:
            yield make_url(server.get_uri())
        finally:
            server.cleanup()


def admin_execute(admin_url: URL, statement: sql.Composable) -> None:
    conn = psycopg2.connect(**connect_kwargs(admin_url))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@dataclass(frozen=True)
class ThrowawayDatabase:
    url: URL  # owner connection, postgresql://...

    @property
    def name(self) -> str:
        return self.url.database


@contextlib.contextmanager
def throwaway_database(admin_url: URL, prefix: str = "npscsat_test") -> Iterator[ThrowawayDatabase]:
    """Creates an empty database with a unique name and drops it afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin_execute(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        # Spelled as people write it; the engine factory pins the driver.
        url = admin_url.set(drivername="postgresql", database=name)
        yield ThrowawayDatabase(url)
    finally:
        admin_execute(
            admin_url,
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
        )


def drop_role(admin_url: URL, role: str) -> None:
    """Drops a login role made by a test. Roles are server-wide, so tests give theirs unique
    names and never drop the shared npscsat_reader group another database may still use."""
    admin_execute(admin_url, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
