"""Applies db/init/*.sql in order, once each, and keeps the roles and settings that SQL files
cannot hold (the dashboard's password, the business time zone) in step with the environment.

Each file runs in its own transaction and is recorded with its SHA-256 in app.schema_migration.
An applied file whose content changed is refused: put the change in a new file instead.
The files are idempotent on their own, so a database first built by the postgres image's
/docker-entrypoint-initdb.d is adopted without errors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.errors
import structlog
from psycopg2 import sql
from sqlalchemy import Engine

from npscsat.errors import NpscsatError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "db" / "init"
MIGRATION_NAME = re.compile(r"^\d{3}_[a-z0-9_]+\.sql$")
READER_GROUP_ROLE = "npscsat_reader"  # created by 001_core.sql, granted in 003_grants.sql
_LOCK_KEY = 7_311_026  # pg_advisory_lock key: one migrator at a time per database

log = structlog.get_logger("jobs.migrate")


class MigrationError(NpscsatError):
    """A migration file is malformed, failed, or was changed after it was applied."""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str
    checksum: str

    @classmethod
    def from_file(cls, path: Path) -> Migration:
        raw = path.read_bytes()
        return cls(path.name, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The .sql files of `directory` in name order; every name must look like 001_name.sql."""
    if not directory.is_dir():
        raise MigrationError(f"migration directory {directory} does not exist")
    paths = sorted(directory.glob("*.sql"))
    misnamed = [p.name for p in paths if not MIGRATION_NAME.match(p.name)]
    if misnamed:
        raise MigrationError(
            f"migration files must be named NNN_lowercase_name.sql: {', '.join(misnamed)}"
        )
    if not paths:
        raise MigrationError(f"no migration files (*.sql) in {directory}")
    return [Migration.from_file(p) for p in paths]


def apply_migrations(engine: Engine, migrations: list[Migration]) -> MigrationReport:
    """Applies the migrations not yet recorded; refuses recorded ones whose checksum changed."""
    report = MigrationReport()
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            cur.execute(
                "CREATE SCHEMA IF NOT EXISTS app;"
                "CREATE TABLE IF NOT EXISTS app.schema_migration ("
                " filename text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT filename, checksum FROM app.schema_migration")
            recorded = dict(cur.fetchall())
        connection.commit()

        for migration in migrations:
            previous = recorded.get(migration.name)
            if previous == migration.checksum:
                report.unchanged.append(migration.name)
                continue
            if previous is not None:
                raise MigrationError(
                    f"db/init/{migration.name} was changed after it was applied to this "
                    f"database (applied sha256 {previous[:12]}, file now "
                    f"{migration.checksum[:12]}). Applied migrations are immutable: undo the "
                    "edit and put the change in a new, higher-numbered file."
                )
            _apply_one(connection, migration)
            report.applied.append(migration.name)
            log.info("migration_applied", file=migration.name, sha256=migration.checksum[:12])

        on_disk = {m.name for m in migrations}
        for missing in sorted(set(recorded) - on_disk):
            log.warning("migration_missing_on_disk", file=missing)
    finally:
        connection.rollback()
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        connection.commit()
        connection.close()
    return report


def _apply_one(connection, migration: Migration) -> None:
    try:
        with connection.cursor() as cur:
            # No parameters: the file's own % signs (format() calls) must reach the server as-is.
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO app.schema_migration (filename, checksum) VALUES (%s, %s)",
                (migration.name, migration.checksum),
            )
        connection.commit()
    except psycopg2.Error as exc:
        connection.rollback()
        detail = (exc.pgerror or str(exc)).strip()
        raise MigrationError(
            f"db/init/{migration.name} failed and was rolled back: {detail}"
        ) from None


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores for a password (RFC 5802 / 7677).

    Sending this instead of the password keeps the plain text out of the server's logs and
    statement statistics; psycopg2 has no helper for it (psycopg 3's encrypt_password does this).
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


# Session settings of the dashboard's role in this database: the limits live on the role, not in
# the app, so they hold for anything that logs in with it. Read-only by default is a second fence
# behind the privileges (the login functions lift it for their own transaction).
DASHBOARD_ROLE_SETTINGS = {
    "default_transaction_read_only": "on",
    "statement_timeout": "15s",
    "lock_timeout": "5s",
    "idle_in_transaction_session_timeout": "60s",
}
# The survey's role: every call it makes writes (through its functions), so no read-only
# default; short limits, because a survey page waits for each call.
SURVEY_ROLE_SETTINGS = {
    "statement_timeout": "5s",
    "lock_timeout": "3s",
    "idle_in_transaction_session_timeout": "30s",
}
SURVEY_GROUP_ROLE = "npscsat_surveyor"  # created and granted by 007_survey.sql
_OWNER_RIGHTS = "docs/database.md (section: the owner's rights)"


@dataclass(frozen=True)
class LoginRole:
    """A login role that migrate keeps in step with the environment: a member of one group
    role, with its password and its own session settings in this database."""

    name: str
    group: str
    settings: dict[str, str]
    variable: str  # the environment variable that names it, for messages
    purpose: str  # "the dashboard", "the survey"


def dashboard_login_role(name: str) -> LoginRole:
    return LoginRole(
        name, READER_GROUP_ROLE, DASHBOARD_ROLE_SETTINGS, "DASHBOARD_DB_USER", "the dashboard"
    )


def survey_login_role(name: str) -> LoginRole:
    return LoginRole(name, SURVEY_GROUP_ROLE, SURVEY_ROLE_SETTINGS, "SURVEY_DB_USER", "the survey")


def ensure_dashboard_role(engine: Engine, role: str, password: str) -> None:
    """The dashboard's login role: member of the read-only group, its own timeouts and
    read-only default."""
    ensure_login_role(engine, dashboard_login_role(role), password)


def ensure_login_role(engine: Engine, role: LoginRole, password: str) -> None:
    """Creates (or updates) a login role: member of its group, password from the environment,
    its own settings, no other rights.

    Works for an owner that is not a superuser (a managed PostgreSQL's admin role has CREATEROLE,
    not SUPERUSER): no statement here touches superuser-only attributes, and a role that has any
    privileged attribute is refused instead of being altered."""
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            owner, database = cur.fetchone()
            if role.name == owner:
                raise MigrationError(
                    f"{role.variable} '{role.name}' is the owner role of DATABASE_URL; "
                    f"{role.purpose} needs a role of its own with narrow rights"
                )
            cur.execute(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls "
                "OR rolreplication FROM pg_roles WHERE rolname = %s",
                (role.name,),
            )
            existing = cur.fetchone()
            if existing and existing[0]:
                raise MigrationError(
                    f"{role.variable} '{role.name}' is a privileged role; choose a dedicated role"
                )
            _manage_role(cur, owner, role, database, password, create=existing is None)
            cur.execute(
                "SELECT has_database_privilege(%s, current_database(), 'TEMP')", (role.name,)
            )
            if cur.fetchone()[0]:
                raise MigrationError(
                    f"the role '{role.name}' of {role.purpose} may still create temporary tables "
                    f"in database '{database}': PUBLIC holds TEMP on it, and only the database's "
                    f"owner can revoke that. Run migrate as the owner of '{database}', or have "
                    f'its owner run: REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC (see '
                    f"{_OWNER_RIGHTS})"
                )
        connection.commit()
        log.info("login_role_ready", role=role.name, group=role.group)
    finally:
        connection.rollback()
        connection.close()


def _manage_role(cur, owner: str, role: LoginRole, database: str, password: str, *, create: bool):
    name = sql.Identifier(role.name)
    statements = [sql.SQL("CREATE ROLE {} LOGIN INHERIT").format(name)] if create else []
    statements.append(
        sql.SQL("ALTER ROLE {} WITH LOGIN INHERIT PASSWORD {}").format(
            name, sql.Literal(scram_sha256_verifier(password))
        )
    )
    statements += [
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
            name, sql.Identifier(database), sql.Identifier(setting), sql.Literal(value)
        )
        for setting, value in role.settings.items()
    ]
    statements += [
        sql.SQL("GRANT {} TO {}").format(sql.Identifier(role.group), name),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), name),
    ]
    for statement in statements:
        try:
            cur.execute(statement)
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise MigrationError(
                f"the owner role '{owner}' of DATABASE_URL may not set up {role.purpose} role "
                f"'{role.name}': "
                f"{(exc.pgerror or str(exc)).strip().splitlines()[0]}. It needs "
                f"CREATEROLE and, on PostgreSQL 16 and later, ADMIN OPTION on '{role.name}' and "
                f"on '{role.group}' (it has that on roles it created itself). See "
                f"{_OWNER_RIGHTS}."
            ) from None


def sync_business_timezone(engine: Engine, zone: str) -> bool:
    """Stores the business time zone; rebuilds the rollup when it changed. True if rebuilt."""
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT reporting.set_business_timezone(%s)", (zone,))
            rebuilt = bool(cur.fetchone()[0])
        connection.commit()
    except psycopg2.Error as exc:
        connection.rollback()
        raise MigrationError(f"BUSINESS_TIMEZONE: {(exc.pgerror or str(exc)).strip()}") from None
    finally:
        connection.close()
    if rebuilt:
        log.info("business_timezone_changed", timezone=zone, rollup="rebuilt")
    return rebuilt


def run_migrate(
    engine: Engine,
    *,
    business_timezone: str,
    dashboard_role: str,
    dashboard_password: str | None,
    survey_role: str | None = None,
    survey_password: str | None = None,
    migrations_dir: Path = MIGRATIONS_DIR,
) -> MigrationReport:
    """The `migrate` step: schema files, then the business time zone, then the login roles of
    the dashboard and (when its password is given) the survey."""
    report = apply_migrations(engine, discover_migrations(migrations_dir))
    sync_business_timezone(engine, business_timezone)
    if dashboard_password:
        ensure_dashboard_role(engine, dashboard_role, dashboard_password)
    else:
        log.warning(
            "dashboard_role_skipped",
            reason="DASHBOARD_DB_PASSWORD is not set; the dashboard's login role was not changed",
        )
    if survey_role and survey_password:
        ensure_login_role(engine, survey_login_role(survey_role), survey_password)
    elif survey_role:
        log.info(
            "survey_role_skipped",
            reason="SURVEY_DB_PASSWORD is not set; the survey's login role was not changed",
        )
    log.info("migrations_done", applied=len(report.applied), unchanged=len(report.unchanged))
    return report
