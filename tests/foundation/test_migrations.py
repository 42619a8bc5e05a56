"""`python -m jobs migrate`: idempotent, immutable once applied, one transaction per file, and
compatible with the postgres image's /docker-entrypoint-initdb.d."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text

from jobs.migrate import (
    MIGRATIONS_DIR,
    MigrationError,
    apply_migrations,
    discover_migrations,
    run_migrate,
)
from npscsat.db import create_db_engine
from testkit.pg import connect_kwargs, drop_role, throwaway_database

REPO = Path(__file__).resolve().parents[2]

# Everything a migration defines, as text, so two databases can be compared.
CATALOG_QUERIES = {
    "columns": """
        SELECT table_schema, table_name, column_name, data_type, domain_name, is_nullable,
               column_default, generation_expression
          FROM information_schema.columns WHERE table_schema IN ('app', 'reporting')""",
    "constraints": """
        SELECT n.nspname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
          JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname IN ('app', 'reporting')""",
    "indexes": "SELECT indexdef FROM pg_indexes WHERE schemaname IN ('app', 'reporting')",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'reporting'",
    "functions": """
        SELECT p.oid::regprocedure::text, md5(p.prosrc), p.proacl::text FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('app', 'reporting')""",
    "triggers": """
        SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('app', 'reporting') AND NOT t.tgisinternal""",
    "privileges": """
        SELECT n.nspname, c.relname, c.relacl::text FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('app', 'reporting')""",
    "column_privileges": """
        SELECT grantee, table_name, column_name, privilege_type
          FROM information_schema.column_privileges
         WHERE table_schema = 'app' AND grantee = 'npscsat_reader'""",
    "lookups": """
        SELECT 'channel', code, label FROM app.channel
        UNION ALL SELECT 'customer_type', code, label FROM app.customer_type""",
    "settings": "SELECT business_timezone FROM reporting.settings",
}


def catalog(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            name: sorted(map(tuple, conn.execute(text(query)).all()), key=repr)
            for name, query in CATALOG_QUERIES.items()
        }


def applied(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT filename, checksum, applied_at FROM app.schema_migration ORDER BY 1")
        ).all()


@pytest.fixture
def engine(empty_database):
    engine = create_db_engine(empty_database.url, application_name="npscsat-tests")
    yield engine
    engine.dispose()


@pytest.fixture
def migrations_copy(tmp_path) -> Path:
    """A private copy of db/init that a test may edit."""
    return Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "init"))


def test_running_twice_leaves_the_schema_unchanged(engine):
    first = apply_migrations(engine, discover_migrations())
    before, records = catalog(engine), applied(engine)
    second = apply_migrations(engine, discover_migrations())
    assert first.applied == [m.name for m in discover_migrations()]
    assert second.applied == [] and second.unchanged == first.applied
    assert catalog(engine) == before
    assert applied(engine) == records  # nothing re-run, nothing re-recorded


def test_a_changed_applied_file_is_refused_with_a_clear_message(engine, migrations_copy):
    apply_migrations(engine, discover_migrations(migrations_copy))
    edited = migrations_copy / "002_reporting.sql"
    edited.write_text(edited.read_text() + "\n-- a later edit\n")
    with pytest.raises(MigrationError) as refused:
        apply_migrations(engine, discover_migrations(migrations_copy))
    message = str(refused.value)
    assert "db/init/002_reporting.sql was changed after it was applied" in message
    assert "new, higher-numbered file" in message


def test_a_new_file_is_applied_alone(engine, migrations_copy):
    apply_migrations(engine, discover_migrations(migrations_copy))
    (migrations_copy / "004_note.sql").write_text(
        "CREATE TABLE IF NOT EXISTS app.note (id int PRIMARY KEY);"
    )
    report = apply_migrations(engine, discover_migrations(migrations_copy))
    assert report.applied == ["004_note.sql"]
    assert report.unchanged == [m.name for m in discover_migrations()]


def test_a_failing_file_is_rolled_back_and_not_recorded(engine, migrations_copy):
    (migrations_copy / "004_broken.sql").write_text(
        "CREATE TABLE app.half_done (id int);\nSELECT 1 / 0;\n"
    )
    with pytest.raises(MigrationError, match=r"004_broken\.sql failed .*division by zero"):
        apply_migrations(engine, discover_migrations(migrations_copy))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('app.half_done')")).scalar() is None
    before = [m.name for m in discover_migrations() if m.name < "004_broken.sql"]
    assert [row.filename for row in applied(engine)] == before  # and nothing after it


def test_a_database_of_the_first_three_files_with_rows_upgrades_through_006(
    engine, migrations_copy
):
    """A database built before sources existed (001-003 only, NPS required, the rollup keyed
    by day x channel x customer type) holds rows; migrating it keeps every row, marks them as
    generated demo data and rebuilds the rollup with the source in its key."""
    for later in migrations_copy.glob("*.sql"):
        if later.name > "004":
            later.unlink()
    apply_migrations(engine, discover_migrations(migrations_copy))
    with engine.begin() as conn:
        conn.execute(text("SELECT reporting.set_business_timezone('America/Sao_Paulo')"))
        conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, "
                "nps_score, csat_score, comment, sentiment, generator_slot) VALUES "
                "('2026-11-30 02:30+00', 'chat', 'individual', 10, 5, 'Great', 'positive', 1),"
                "('2026-11-30 03:30+00', 'chat', 'individual', 3, NULL, NULL, NULL, 2),"
                "('2026-11-29 12:00+00', 'email', 'enterprise', 7, 4, 'Fine', 'neutral', 3)"
            )
        )
        before = conn.execute(
            text("SELECT generator_slot, nps_category FROM app.survey_response ORDER BY 1")
        ).all()
        rollup_before = conn.execute(
            text(
                "SELECT day, channel, customer_type, responses, promoters, passives, detractors, "
                "nps_sum, csat_count, csat_sum, csat_satisfied, sentiment_positive, "
                "sentiment_neutral, sentiment_negative FROM reporting.daily_rollup ORDER BY 1, 2"
            )
        ).all()

    report = apply_migrations(engine, discover_migrations())
    assert "006_response_sources.sql" in report.applied

    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT generator_slot, nps_category, source, external_id "
                "FROM app.survey_response ORDER BY 1"
            )
        ).all()
        assert [(r.generator_slot, r.nps_category) for r in rows] == [tuple(b) for b in before]
        assert {(r.source, r.external_id) for r in rows} == {("generated", None)}
        rollup_after = conn.execute(
            text(
                "SELECT day, channel, customer_type, responses, promoters, passives, detractors, "
                "nps_sum, csat_count, csat_sum, csat_satisfied, sentiment_positive, "
                "sentiment_neutral, sentiment_negative, source FROM reporting.daily_rollup "
                "ORDER BY 1, 2"
            )
        ).all()
        assert [tuple(r)[:-1] for r in rollup_after] == [tuple(r) for r in rollup_before]
        assert {r.source for r in rollup_after} == {"generated"}
        # The upgraded triggers keep the new key: a CSAT-only import lands under its source.
        conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, "
                "csat_score, source, external_id) VALUES "
                "('2026-11-30 12:00+00', 'chat', 'individual', 2, 'import:zendesk', 'z-1')"
            )
        )
        imported = conn.execute(
            text(
                "SELECT responses, promoters + passives + detractors AS nps_n, csat_count "
                "FROM reporting.daily_rollup WHERE source = 'import:zendesk'"
            )
        ).one()
        assert tuple(imported) == (1, 0, 1)


def test_misnamed_files_are_refused(migrations_copy):
    (migrations_copy / "extra-stuff.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNN_lowercase_name\.sql: extra-stuff\.sql"):
        discover_migrations(migrations_copy)


def test_files_also_run_as_docker_entrypoint_initdb_scripts(engine, empty_database, pg_admin_url):
    """The postgres image runs each file once, autocommit, on an empty data directory; the
    migrator must then adopt that database and leave it identical to one it built itself."""
    conn = psycopg2.connect(**connect_kwargs(empty_database.url))
    conn.autocommit = True
    with conn.cursor() as cur:
        for migration in discover_migrations():
            cur.execute(migration.sql)
    conn.close()
    report = apply_migrations(engine, discover_migrations())
    assert len(report.applied) == len(discover_migrations())  # recorded; each statement a no-op

    with throwaway_database(pg_admin_url, prefix="npscsat_reference") as reference:
        reference_engine = create_db_engine(reference.url, application_name="npscsat-tests")
        apply_migrations(reference_engine, discover_migrations())
        expected = catalog(reference_engine)
        reference_engine.dispose()
    assert catalog(engine) == expected


@pytest.fixture
def cli_role(pg_admin_url):
    """A login role name, dropped after the test's database (requested first, torn down last)."""
    role = "npscsat_cli_test_role"
    yield role
    drop_role(pg_admin_url, role)


def test_the_cli_migrates_and_sets_up_the_dashboard_role(cli_role, empty_database):
    role = cli_role
    env = {
        **os.environ,
        "DATABASE_URL": empty_database.url.render_as_string(hide_password=False),
        "APP_ENV": "dev",
        "LOG_FORMAT": "json",
        "DASHBOARD_DB_USER": role,
        "DASHBOARD_DB_PASSWORD": "cli-test-password",
        "BUSINESS_TIMEZONE": "America/Sao_Paulo",
    }
    for expected_applied in (len(discover_migrations()), 0):
        result = subprocess.run(
            [sys.executable, "-m", "jobs", "migrate"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        done = next(e for e in events if e["event"] == "migrations_done")
        assert done["applied"] == expected_applied
        assert all("run_id" in e for e in events)
    engine = create_db_engine(empty_database.url, application_name="npscsat-tests")
    with engine.connect() as conn:
        zone = conn.execute(text("SELECT business_timezone FROM reporting.settings")).scalar()
        member = conn.execute(
            text("SELECT pg_has_role(:r, 'npscsat_reader', 'MEMBER')"), {"r": role}
        ).scalar()
    engine.dispose()
    assert zone == "America/Sao_Paulo" and member


def test_run_migrate_stops_at_a_changed_file(engine, migrations_copy):
    apply_migrations(engine, discover_migrations(migrations_copy))
    edited = migrations_copy / "001_core.sql"
    edited.write_text(edited.read_text().replace("Live chat", "Chat"))
    with pytest.raises(MigrationError, match=r"001_core\.sql was changed"):
        run_migrate(
            engine,
            business_timezone="UTC",
            dashboard_role="unused",
            dashboard_password=None,
            migrations_dir=migrations_copy,
        )


def test_a_database_at_006_with_rows_upgrades_through_007(engine, migrations_copy):
    """A database built before the survey existed holds imported and generated rows; 007 keeps
    them as they were (none is a suspected bot), the rollup unchanged, and the survey's tables,
    functions and the response-rate rollup work on it at once."""
    for later in migrations_copy.glob("*.sql"):
        if later.name >= "007":
            later.unlink()
    apply_migrations(engine, discover_migrations(migrations_copy))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, "
                "nps_score, csat_score, comment, generator_slot, source, external_id) VALUES "
                "('2026-11-30 12:00+00', 'chat', 'individual', 10, 5, 'Great', 1, 'generated', "
                "NULL), ('2026-11-29 12:00+00', 'email', 'enterprise', NULL, 2, NULL, NULL, "
                "'import:zendesk', 'z-1')"
            )
        )
        rollup_before = conn.execute(
            text("SELECT * FROM reporting.daily_rollup ORDER BY day, source")
        ).all()

    report = apply_migrations(engine, discover_migrations())
    assert report.applied == ["007_survey.sql"]
    with engine.begin() as conn:
        assert conn.execute(
            text("SELECT source, suspected_bot FROM app.survey_response ORDER BY 1")
        ).all() == [("generated", False), ("import:zendesk", False)]
        assert (
            conn.execute(text("SELECT * FROM reporting.daily_rollup ORDER BY day, source")).all()
            == rollup_before
        )
        invitation = conn.execute(
            text(
                "INSERT INTO app.survey_invitation (external_id, channel, customer_type, "
                "expires_at) VALUES ('T-1', 'chat', 'individual', now() + interval '1 day') "
                "RETURNING id"
            )
        ).scalar_one()
        outcome = conn.execute(
            text("SELECT outcome FROM app.survey_record_answer(:i, 9, 4, NULL, false, false, 24)"),
            {"i": invitation},
        ).scalar_one()
        assert outcome == "recorded"
        assert conn.execute(
            text("SELECT sum(invited), sum(answered) FROM reporting.invitation_rollup")
        ).one() == (1, 1)
        assert (
            conn.execute(
                text("SELECT responses FROM reporting.daily_rollup WHERE source = 'survey'")
            ).scalar_one()
            == 1
        )


def test_a_changed_business_zone_recuts_the_invitations_days(engine):
    apply_migrations(engine, discover_migrations())
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.survey_invitation (external_id, channel, customer_type, "
                "invited_at, expires_at) VALUES ('late', 'chat', 'individual', "
                "'2026-11-30 23:30+00', '2026-12-30 23:30+00')"
            )
        )
        conn.execute(text("SELECT reporting.set_business_timezone('Asia/Tokyo')"))
        day = conn.execute(text("SELECT day FROM reporting.invitation_rollup")).scalar_one()
    assert str(day) == "2026-12-01"
