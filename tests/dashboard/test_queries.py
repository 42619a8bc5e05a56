"""The dashboard's reads through the read-only role, and how their failures read."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from dashboard.queries import DatabaseNotReady, fetch_lookups, fetch_overview, readable_errors
from npscsat import reporting
from npscsat.db import create_db_engine
from npscsat.errors import DatabaseUnavailable
from npscsat.reporting import ReportFilter
from tests.dashboard.conftest import insert_responses, synthetic_responses

LAST_DAY = date(2026, 11, 30)


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
@pytest.mark.parametrize(
    "selection",
    [
        ReportFilter(LAST_DAY - timedelta(days=89), LAST_DAY),
        ReportFilter(date(2026, 10, 3), date(2026, 11, 17), ("chat", "phone"), ("enterprise",)),
        ReportFilter(date(2026, 11, 1), date(2026, 11, 1)),
    ],
)
def test_overview_totals_are_exactly_the_totals_of_the_selection(db, selection, granularity):
    insert_responses(db.engine, synthetic_responses(2000, last_day=LAST_DAY, days=150))
    with db.dashboard_engine.connect() as conn:
        overview = fetch_overview(conn, selection, granularity)
        assert overview.totals == reporting.fetch_totals(conn, selection)
        assert overview.previous == reporting.fetch_totals(conn, selection.previous_period())
        assert sum(c.totals.responses for c in overview.by_channel) == overview.totals.responses
    assert overview.totals.responses > 0


def test_an_empty_selection_reads_nothing(db):
    insert_responses(db.engine, synthetic_responses(100, last_day=LAST_DAY, days=10))
    with db.dashboard_engine.connect() as conn:
        overview = fetch_overview(conn, ReportFilter(LAST_DAY, LAST_DAY, channels=()), "day")
    assert overview.totals.responses == 0 and overview.series == [] and overview.by_channel == []


def test_lookups_come_from_the_database(db):
    with db.dashboard_engine.connect() as conn:
        lookups = fetch_lookups(conn)
    assert [o.code for o in lookups.channels][:2] == ["phone", "email"]
    assert lookups.status.responses == 0


def test_a_database_without_the_schema_is_not_ready(empty_database):
    engine = create_db_engine(empty_database.url, application_name="npscsat-tests")
    try:
        with (
            pytest.raises(DatabaseNotReady, match="no npscsat reporting schema yet"),
            readable_errors(engine),
            engine.connect() as conn,
        ):
            fetch_lookups(conn)
    finally:
        engine.dispose()


def test_a_role_without_read_rights_is_named(db):
    role = f"npscsat_test_nobody_{secrets.token_hex(4)}"  # roles are server-wide: unique name
    with db.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    engine = create_db_engine(
        db.dashboard_url.set(username=role, password=None), application_name="npscsat-tests"
    )
    try:
        with (
            pytest.raises(DatabaseNotReady, match="may not read the reporting schema"),
            readable_errors(engine),
            engine.connect() as conn,
        ):
            fetch_lookups(conn)
    finally:
        engine.dispose()
        with db.engine.begin() as conn:
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_an_unreachable_server_names_host_but_not_password(db):
    down = db.dashboard_url.set(host="127.0.0.1", port=1)
    engine = create_db_engine(down, application_name="npscsat-tests")
    try:
        with pytest.raises(DatabaseUnavailable) as error, readable_errors(engine):
            engine.connect()
    finally:
        engine.dispose()
    assert "127.0.0.1:1" in str(error.value)
    assert db.dashboard_url.password not in str(error.value)
