"""Read queries the dashboard needs, all parameterised and answered from the reporting schema.

Figures come from reporting.daily_rollup, whose size grows with days x channels x customer
types x sources, not with responses. Only `fetch_comments` reads raw rows, bounded by LIMIT and the
responded_at index. Every function takes an open SQLAlchemy connection, so the caller decides
about pooling and caching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import Connection, text

from npscsat import sources
from npscsat.metrics import Totals

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = get_args(Granularity)

# Module-level SQL is composed from these constants only; every value is a bind parameter.
_TOTAL_COLUMNS = ", ".join(f"sum({f.name}) AS {f.name}" for f in fields(Totals))
# NULL channels / customer_types / sources mean "all" (psycopg2 inlines the values, so the
# planner drops the always-true branch).
_DIMENSIONS = """
    AND (CAST(:channels AS text[]) IS NULL OR channel = ANY(CAST(:channels AS text[])))
    AND (CAST(:customer_types AS text[]) IS NULL
         OR customer_type = ANY(CAST(:customer_types AS text[])))
    AND (CAST(:sources AS text[]) IS NULL OR source = ANY(CAST(:sources AS text[])))
"""
_SELECTION = "day BETWEEN :start AND :end" + _DIMENSIONS
_TOTALS_SQL = text(f"SELECT {_TOTAL_COLUMNS} FROM reporting.daily_rollup WHERE {_SELECTION}")  # noqa: S608
_SERIES_SQL = text(f"""
    SELECT reporting.period_start(:granularity, day) AS period_start,
           reporting.period_label(:granularity, reporting.period_start(:granularity, day))
               AS period_label,
           {_TOTAL_COLUMNS}
      FROM reporting.daily_rollup
     WHERE {_SELECTION}
     GROUP BY 1, 2
     ORDER BY 1
""")  # noqa: S608
_BY_CHANNEL_SQL = text(f"""
    SELECT r.channel, c.label, {_TOTAL_COLUMNS}
      FROM reporting.daily_rollup r
      JOIN reporting.channel c ON c.code = r.channel
     WHERE {_SELECTION}
     GROUP BY r.channel, c.label, c.sort_order
     ORDER BY c.sort_order
""")  # noqa: S608
# A filter change's periods, channels and whole-selection totals in one scan of the rollup
# (grouping sets), instead of one scan each.
_BREAKDOWN_SQL = text(f"""
    WITH grouped AS (
        SELECT GROUPING(reporting.period_start(:granularity, day)) AS by_channel,
               GROUPING(channel) AS by_period,
               reporting.period_start(:granularity, day) AS period_start,
               channel,
               {_TOTAL_COLUMNS}
          FROM reporting.daily_rollup
         WHERE {_SELECTION}
         GROUP BY GROUPING SETS ((reporting.period_start(:granularity, day)), (channel), ())
    )
    -- Labels after the aggregation: once per period and channel, not once per rollup row.
    SELECT g.*, reporting.period_label(:granularity, g.period_start) AS period_label,
           c.label, c.sort_order
      FROM grouped g
      LEFT JOIN reporting.channel c ON c.code = g.channel
""")  # noqa: S608
_COMMENT_COLUMNS = (
    "id, responded_at, channel, customer_type, source, nps_score, csat_score, nps_category, "
    "sentiment, comment"
)
_COMMENT_SELECTION = (
    "responded_at >= b.lo AND responded_at < b.hi"
    + _DIMENSIONS
    + "    AND (CAST(:pattern AS text) IS NULL OR comment ILIKE :pattern ESCAPE '\\')"
)
# Day bounds in the business time zone: [start 00:00, end + 1 day 00:00). Each half walks the
# responded_at index backwards and stops at :limit, so the cost does not grow with the range.
# "Detractors first": answers without NPS (CSAT only) count with the others.
_COMMENTS_SQL = text(f"""
    WITH b AS (
        SELECT CAST(:start AS date)::timestamp AT TIME ZONE s.business_timezone AS lo,
               (CAST(:end AS date) + 1)::timestamp AT TIME ZONE s.business_timezone AS hi
          FROM reporting.settings s
    )
    SELECT {_COMMENT_COLUMNS} FROM (
        (SELECT {_COMMENT_COLUMNS} FROM reporting.comment_list, b
          WHERE {_COMMENT_SELECTION} AND nps_category = 'detractor'
          ORDER BY responded_at DESC LIMIT :limit)
        UNION ALL
        (SELECT {_COMMENT_COLUMNS} FROM reporting.comment_list, b
          WHERE {_COMMENT_SELECTION} AND nps_category IS DISTINCT FROM 'detractor'
          ORDER BY responded_at DESC LIMIT :limit)
    ) AS latest
    ORDER BY (nps_category IS NOT DISTINCT FROM 'detractor') DESC, responded_at DESC
    LIMIT :limit
""")  # noqa: S608


@dataclass(frozen=True)
class ReportFilter:
    """A dashboard selection. Dates are business days (inclusive). None means "all"; an empty
    tuple means "none selected" and matches nothing."""

    start: date
    end: date
    channels: tuple[str, ...] | None = None
    customer_types: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")

    @property
    def matches_nothing(self) -> bool:
        return () in (self.channels, self.customer_types, self.sources)

    def previous_period(self) -> ReportFilter:
        """The period of equal length just before this one (for "change vs previous")."""
        end = self.start - timedelta(days=1)
        return replace(self, start=end - (self.end - self.start), end=end)


@dataclass(frozen=True)
class PeriodTotals:
    period_start: date
    period_label: str
    totals: Totals


@dataclass(frozen=True)
class ChannelTotals:
    channel: str
    label: str
    totals: Totals


@dataclass(frozen=True)
class Comment:
    id: int
    responded_at: datetime
    channel: str
    customer_type: str
    source: str
    nps_score: int | None
    csat_score: int | None
    nps_category: str | None
    sentiment: str | None
    comment: str


@dataclass(frozen=True)
class Option:
    """A filter choice: code stored in the data, label shown to people."""

    code: str
    label: str


@dataclass(frozen=True)
class SourceOption:
    """A source that holds responses: 'generated' (demo data written by a language model),
    'survey', or 'import:<name>'."""

    code: str
    kind: str  # generated, survey or import
    responses: int
    first_day: date
    last_day: date

    @property
    def is_demo(self) -> bool:
        return sources.is_demo(self.code)

    @property
    def label(self) -> str:
        if self.is_demo:
            return "Demo data (generated)"
        if self.code == sources.SURVEY:
            return "Survey answers"
        if self.code == sources.SURVEY_SUSPECTED_BOT:
            return "Survey: suspected bots"
        return f"Import: {self.code.removeprefix(sources.IMPORT_PREFIX)}"


@dataclass(frozen=True)
class DataStatus:
    responses: int
    first_day: date | None
    last_day: date | None
    updated_at: datetime | None
    business_timezone: str


@dataclass(frozen=True)
class JobRunStatus:
    """The latest run of the data job (reporting.job_status)."""

    status: str  # running, succeeded, failed, interrupted
    started_at: datetime
    finished_at: datetime | None
    target: int | None
    written: int
    dropped: int
    phase: str  # starting, waiting_for_model, generating, classifying, refreshing
    phase_detail: str | None
    eta_seconds: int | None
    model: str | None
    updated_at: datetime
    detail: str | None
    alive: bool  # its process holds the run's lock: a "running" run that is not alive died

    @property
    def live(self) -> bool:
        return self.status == "running" and self.alive

    @property
    def dead(self) -> bool:
        return self.status == "running" and not self.alive


@dataclass(frozen=True)
class LoginUser:
    username: str
    display_name: str
    email: str | None
    password_hash: str


def _codes(codes: tuple[str, ...] | None) -> list[str] | None:
    return None if codes is None else list(codes)


def _selection_params(selection: ReportFilter) -> dict:
    return {
        "start": selection.start,
        "end": selection.end,
        "channels": _codes(selection.channels),
        "customer_types": _codes(selection.customer_types),
        "sources": _codes(selection.sources),
    }


def fetch_totals(conn: Connection, selection: ReportFilter) -> Totals:
    """Counts and sums for the whole selection (the KPI cards)."""
    if selection.matches_nothing:
        return Totals()
    row = conn.execute(_TOTALS_SQL, _selection_params(selection)).mappings().one()
    return Totals.from_mapping(row)


def fetch_series(
    conn: Connection, selection: ReportFilter, granularity: Granularity
) -> list[PeriodTotals]:
    """One row per day, ISO week or month that has responses, oldest first. Periods are cut in
    the business time zone; edge periods hold only the days inside the selection."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if selection.matches_nothing:
        return []
    params = {**_selection_params(selection), "granularity": granularity}
    return [
        PeriodTotals(row["period_start"], row["period_label"], Totals.from_mapping(row))
        for row in conn.execute(_SERIES_SQL, params).mappings()
    ]


def fetch_by_channel(conn: Connection, selection: ReportFilter) -> list[ChannelTotals]:
    """Totals per channel for the selection, in the channels' display order."""
    if selection.matches_nothing:
        return []
    rows = conn.execute(_BY_CHANNEL_SQL, _selection_params(selection)).mappings()
    return [ChannelTotals(row["channel"], row["label"], Totals.from_mapping(row)) for row in rows]


@dataclass(frozen=True)
class Breakdown:
    totals: Totals
    series: list[PeriodTotals]
    by_channel: list[ChannelTotals]


def fetch_breakdown(
    conn: Connection, selection: ReportFilter, granularity: Granularity
) -> Breakdown:
    """What fetch_totals, fetch_series and fetch_by_channel answer, in one query: the periods
    (oldest first), the channels (in display order) and the whole selection."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if selection.matches_nothing:
        return Breakdown(Totals(), [], [])
    params = {**_selection_params(selection), "granularity": granularity}
    totals, series, channels = Totals(), [], []
    for row in conn.execute(_BREAKDOWN_SQL, params).mappings():
        figures = Totals.from_mapping(row)
        if row["by_period"] and row["by_channel"]:
            totals = figures
        elif row["by_period"]:
            series.append(PeriodTotals(row["period_start"], row["period_label"], figures))
        else:
            channels.append(
                (row["sort_order"], ChannelTotals(row["channel"], row["label"], figures))
            )
    series.sort(key=lambda period: period.period_start)
    channels.sort(key=lambda pair: pair[0])
    return Breakdown(totals, series, [channel for _, channel in channels])


def _like_pattern(search: str) -> str:
    """A LIKE pattern that matches `search` literally anywhere (%, _ and \\ escaped)."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fetch_comments(
    conn: Connection,
    selection: ReportFilter,
    *,
    search: str | None = None,
    limit: int = 50,
) -> list[Comment]:
    """The latest comments of the selection, detractors first, optionally containing `search`
    (case-insensitive, taken literally)."""
    if selection.matches_nothing or limit <= 0:
        return []
    params = {
        **_selection_params(selection),
        "pattern": _like_pattern(search.strip()) if search and search.strip() else None,
        "limit": int(limit),
    }
    return [Comment(**row) for row in conn.execute(_COMMENTS_SQL, params).mappings()]


def fetch_channels(conn: Connection) -> list[Option]:
    rows = conn.execute(text("SELECT code, label FROM reporting.channel ORDER BY sort_order"))
    return [Option(code, label) for code, label in rows]


def fetch_customer_types(conn: Connection) -> list[Option]:
    rows = conn.execute(text("SELECT code, label FROM reporting.customer_type ORDER BY sort_order"))
    return [Option(code, label) for code, label in rows]


def fetch_sources(conn: Connection) -> list[SourceOption]:
    """The sources that hold responses: real ones first (survey, then imports by name), the demo
    data last."""
    rows = conn.execute(
        text(
            "SELECT source AS code, kind, responses, first_day, last_day "
            "FROM reporting.response_source "
            "ORDER BY kind = 'generated', kind <> 'survey', source"
        )
    ).mappings()
    return [SourceOption(**row) for row in rows]


def fetch_data_status(conn: Connection) -> DataStatus:
    """How much data there is, which days it spans, when it last changed."""
    row = conn.execute(text("SELECT * FROM reporting.data_status")).mappings().one()
    return DataStatus(**row)


def fetch_job_status(conn: Connection) -> JobRunStatus | None:
    row = (
        conn.execute(
            text(
                "SELECT status, started_at, finished_at, target, written, dropped, phase, "
                "phase_detail, eta_seconds, model, updated_at, detail, alive "
                "FROM reporting.job_status"
            )
        )
        .mappings()
        .one_or_none()
    )
    return None if row is None else JobRunStatus(**row)


def fetch_login_users(conn: Connection, usernames: Sequence[str] | None = None) -> list[LoginUser]:
    """Active users with their bcrypt hashes (the dashboard role may read only these columns)."""
    sql = "SELECT username, display_name, email, password_hash FROM app.users WHERE is_active"
    params: dict = {}
    if usernames is not None:
        sql += " AND lower(username) = ANY(CAST(:usernames AS text[]))"
        params["usernames"] = [name.lower() for name in usernames]
    rows = conn.execute(text(sql + " ORDER BY username"), params).mappings()
    return [LoginUser(**row) for row in rows]


# --- the survey's response rate -------------------------------------------------------------

# Invitations are counted on the day they were sent (reporting.invitation_rollup, kept by
# triggers), answered ones among them; the selection's dates, channels and customer types apply,
# its sources do not (every invitation is the survey's).
_RATE_DIMENSIONS = """
    AND (CAST(:channels AS text[]) IS NULL OR channel = ANY(CAST(:channels AS text[])))
    AND (CAST(:customer_types AS text[]) IS NULL
         OR customer_type = ANY(CAST(:customer_types AS text[])))
"""
_RESPONSE_RATE_SQL = text(f"""
    WITH grouped AS (
        SELECT GROUPING(reporting.period_start(:granularity, day)) AS by_channel,
               GROUPING(channel) AS by_period,
               reporting.period_start(:granularity, day) AS period_start,
               channel,
               sum(invited)::bigint AS invited,
               sum(answered)::bigint AS answered
          FROM reporting.invitation_rollup
         WHERE day BETWEEN :start AND :end {_RATE_DIMENSIONS}
         GROUP BY GROUPING SETS ((reporting.period_start(:granularity, day)), (channel), ())
    )
    SELECT g.*, reporting.period_label(:granularity, g.period_start) AS period_label,
           c.label, c.sort_order
      FROM grouped g
      LEFT JOIN reporting.channel c ON c.code = g.channel
""")  # noqa: S608


@dataclass(frozen=True)
class ResponseRate:
    """Invitations sent and how many of them were answered (suspected bots not counted)."""

    invited: int = 0
    answered: int = 0

    @property
    def rate_pct(self) -> float | None:
        return None if self.invited <= 0 else 100.0 * self.answered / self.invited


@dataclass(frozen=True)
class PeriodRate:
    period_start: date
    period_label: str
    rate: ResponseRate


@dataclass(frozen=True)
class ChannelRate:
    channel: str
    label: str
    rate: ResponseRate


@dataclass(frozen=True)
class ResponseRates:
    totals: ResponseRate
    series: list[PeriodRate]
    by_channel: list[ChannelRate]


def fetch_response_rates(
    conn: Connection, selection: ReportFilter, granularity: Granularity
) -> ResponseRates:
    """Answered / invited for the selection, per period (oldest first) and per channel (in
    display order), from the invitation rollup in one query."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if () in (selection.channels, selection.customer_types):
        return ResponseRates(ResponseRate(), [], [])
    params = {**_selection_params(selection), "granularity": granularity}
    totals, series, channels = ResponseRate(), [], []
    for row in conn.execute(_RESPONSE_RATE_SQL, params).mappings():
        rate = ResponseRate(int(row["invited"] or 0), int(row["answered"] or 0))
        if row["by_period"] and row["by_channel"]:
            totals = rate
        elif row["by_period"]:
            series.append(PeriodRate(row["period_start"], row["period_label"], rate))
        else:
            channels.append((row["sort_order"], ChannelRate(row["channel"], row["label"], rate)))
    series.sort(key=lambda period: period.period_start)
    channels.sort(key=lambda pair: pair[0])
    return ResponseRates(totals, series, [channel for _, channel in channels])
