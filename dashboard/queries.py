"""Database access of the dashboard: one engine per process, cached reads, readable errors.

Figures come from npscsat.reporting (the rollup) and are cached for CACHE_TTL, so a filter
change already seen costs no query at all and a new one costs a few rollup reads. Only the
comment list reads raw rows (bounded and indexed in fetch_comments).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from npscsat import reporting
from npscsat.db import create_db_engine, describe_url
from npscsat.errors import DatabaseUnavailable, NpscsatError
from npscsat.metrics import Totals
from npscsat.reporting import (
    ChannelTotals,
    Comment,
    DataStatus,
    Granularity,
    JobRunStatus,
    LoginUser,
    Option,
    PeriodTotals,
    ReportFilter,
    ResponseRates,
    SourceOption,
)

CACHE_TTL = timedelta(seconds=60)
JOB_STATUS_TTL = timedelta(seconds=2)  # one read per replica every 2 s, however many viewers

# SQLSTATEs that mean "this database is not set up for the dashboard".
_UNDEFINED_TABLE, _INVALID_SCHEMA, _UNDEFINED_FUNCTION = "42P01", "3F000", "42883"
_INSUFFICIENT_PRIVILEGE = "42501"


class DatabaseNotReady(NpscsatError):
    """The database answers but lacks the npscsat schema or the role's read rights."""


@dataclass(frozen=True)
class Overview:
    """Everything the KPI cards and charts need for one filter selection."""

    totals: Totals
    previous: Totals
    series: list[PeriodTotals]
    by_channel: list[ChannelTotals]


@dataclass(frozen=True)
class Lookups:
    """What the filters offer and what the page says about the data."""

    status: DataStatus
    channels: list[Option]
    customer_types: list[Option]
    sources: list[SourceOption]


# --- plain reads (no Streamlit): used by the page through the caches below and by benchmarks


def fetch_overview(conn: Connection, selection: ReportFilter, granularity: Granularity) -> Overview:
    """The reads behind a filter change: all from the rollup, none from raw responses. The
    periods, the channels and the selection's totals come from one query (grouping sets, one
    scan of the rollup), the previous period's totals from a second."""
    breakdown = reporting.fetch_breakdown(conn, selection, granularity)
    return Overview(
        totals=breakdown.totals,
        previous=reporting.fetch_totals(conn, selection.previous_period()),
        series=breakdown.series,
        by_channel=breakdown.by_channel,
    )


def fetch_lookups(conn: Connection) -> Lookups:
    return Lookups(
        status=reporting.fetch_data_status(conn),
        channels=reporting.fetch_channels(conn),
        customer_types=reporting.fetch_customer_types(conn),
        sources=reporting.fetch_sources(conn),
    )


@contextlib.contextmanager
def readable_errors(engine: Engine) -> Iterator[None]:
    """Turns driver errors into messages a person can act on (no traceback, no password)."""
    try:
        yield
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL at {describe_url(engine.url)}: {_first_line(exc)}"
        ) from None
    except DBAPIError as exc:
        code = getattr(exc.orig, "pgcode", None)
        if code in (_UNDEFINED_TABLE, _INVALID_SCHEMA, _UNDEFINED_FUNCTION):
            raise DatabaseNotReady(
                f"the database {engine.url.database!r} has no npscsat reporting schema yet: "
                "run the data job (it applies the migrations) and reload"
            ) from None
        if code == _INSUFFICIENT_PRIVILEGE:
            raise DatabaseNotReady(
                f"the role {engine.url.username!r} of DASHBOARD_DATABASE_URL may not read the "
                "reporting schema: point it at the dashboard role the job creates "
                "(DASHBOARD_DB_USER) and reload"
            ) from None
        raise


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]


# --- the page's cached reads --------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def get_engine(database_url: str) -> Engine:
    """One small pool per dashboard process, shared by every session. Statement, lock and
    idle-transaction timeouts are settings of the dashboard's role (set by `migrate`)."""
    return create_db_engine(
        make_url(database_url),
        application_name="npscsat-dashboard",
        pool_size=5,
        max_overflow=5,
        pool_recycle=1800,
    )


def _read(database_url: str, reader, *args):
    engine = get_engine(database_url)
    with readable_errors(engine), engine.connect() as conn:
        return reader(conn, *args)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False, max_entries=1000)
def load_lookups(database_url: str) -> Lookups:
    return _read(database_url, fetch_lookups)


@st.cache_data(ttl=JOB_STATUS_TTL, show_spinner=False, max_entries=10)
def load_job_status(database_url: str) -> JobRunStatus | None:
    return _read(database_url, reporting.fetch_job_status)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False, max_entries=1000)
def load_overview(
    database_url: str,
    start: date,
    end: date,
    channels: tuple[str, ...] | None,
    customer_types: tuple[str, ...] | None,
    sources: tuple[str, ...] | None,
    granularity: Granularity,
) -> Overview:
    selection = ReportFilter(start, end, channels, customer_types, sources)
    return _read(database_url, fetch_overview, selection, granularity)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False, max_entries=1000)
def load_response_rates(
    database_url: str,
    start: date,
    end: date,
    channels: tuple[str, ...] | None,
    customer_types: tuple[str, ...] | None,
    granularity: Granularity,
) -> ResponseRates:
    selection = ReportFilter(start, end, channels, customer_types)
    return _read(database_url, reporting.fetch_response_rates, selection, granularity)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False, max_entries=1000)
def load_comments(
    database_url: str,
    start: date,
    end: date,
    channels: tuple[str, ...] | None,
    customer_types: tuple[str, ...] | None,
    sources: tuple[str, ...] | None,
    search: str,
    limit: int,
) -> list[Comment]:
    selection = ReportFilter(start, end, channels, customer_types, sources)

    def reader(conn: Connection) -> list[Comment]:
        return reporting.fetch_comments(conn, selection, search=search, limit=limit)

    return _read(database_url, reader)


def find_login_user(database_url: str, username: str) -> LoginUser | None:
    """The active user with this name (case-insensitive), never cached: a deactivated user
    must not log in from a stale copy."""

    def reader(conn: Connection) -> LoginUser | None:
        users = reporting.fetch_login_users(conn, [username])
        return users[0] if users else None

    return _read(database_url, reader)


def forget_cached_data() -> None:
    """The "refresh" and "retry" buttons: the next run reads the database again."""
    load_lookups.clear()
    load_job_status.clear()
    load_overview.clear()
    load_response_rates.clear()
    load_comments.clear()
