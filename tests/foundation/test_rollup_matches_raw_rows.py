"""The reporting layer equals a recomputation from the raw rows, for any data.

Hypothesis generates responses (with ISO-week and year edges in non-UTC business time zones,
several sources, answers with NPS only, CSAT only or both), then updates and deletes some, and
compares the daily rollup (per day x channel x customer type x source) and the dashboard's
week / month series, whole and cut by source, with what Python computes straight from the rows
it wrote.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from npscsat import reporting
from npscsat.metrics import Totals
from tests.conftest import reset_data

ZONES = ["America/Sao_Paulo", "Asia/Kolkata", "Pacific/Auckland", "UTC"]
SOURCES = ["generated", "survey", "import:zendesk", "import:qualtrics"]
CHANNELS = ["phone", "email", "chat", "whatsapp", "self_service"]
CUSTOMER_TYPES = ["individual", "small_business", "enterprise"]
SENTIMENTS = [None, "positive", "neutral", "negative"]


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# NPS, CSAT or both; never neither (the database refuses that).
scores = st.one_of(
    st.tuples(st.integers(0, 10), st.none() | st.integers(1, 5)),
    st.tuples(st.none(), st.integers(1, 5)),
)
responses = st.builds(
    lambda base, score, source: {
        **base,
        "nps_score": score[0],
        "csat_score": score[1],
        "source": source,
    },
    st.fixed_dictionaries(
        {
            "responded_at": st.datetimes(
                min_value=datetime(2024, 12, 20),
                max_value=datetime(2026, 1, 10),
                timezones=st.just(UTC),
            ),
            "channel": st.sampled_from(CHANNELS),
            "customer_type": st.sampled_from(CUSTOMER_TYPES),
            "sentiment": st.sampled_from(SENTIMENTS),
        }
    ),
    scores,
    st.sampled_from(SOURCES),
)

# Sunday 23:30 local belongs to the ISO week that ends that night, whatever UTC says; the
# 2024/2025 and 2025/2026 year boundaries split ISO years and calendar months differently.
EDGE_ROWS = [
    {
        "responded_at": local("America/Sao_Paulo", 2025, 11, 30, 23, 30),  # Sunday, W48
        "channel": "chat",
        "customer_type": "individual",
        "nps_score": 10,
        "csat_score": 5,
        "sentiment": "positive",
        "source": "generated",
    },
    {
        "responded_at": local("America/Sao_Paulo", 2025, 12, 1, 0, 30),  # Monday, W49
        "channel": "chat",
        "customer_type": "individual",
        "nps_score": 2,
        "csat_score": 1,
        "sentiment": "negative",
        "source": "import:zendesk",
    },
    {
        "responded_at": local("America/Sao_Paulo", 2024, 12, 31, 23, 30),  # 2025-W01, Dec
        "channel": "email",
        "customer_type": "enterprise",
        "nps_score": 7,
        "csat_score": None,
        "sentiment": None,
        "source": "survey",
    },
    {
        "responded_at": local("America/Sao_Paulo", 2026, 1, 1, 0, 15),  # 2026-W01, Jan
        "channel": "email",
        "customer_type": "enterprise",
        "nps_score": None,  # a CSAT-only answer
        "csat_score": 4,
        "sentiment": "neutral",
        "source": "import:zendesk",
    },
]


def daily_key(row: dict, day: date) -> tuple:
    return (day, row["channel"], row["customer_type"], row["source"])


def expected_totals(rows: list[dict], zone: str, key) -> dict[tuple, dict]:
    """Python's own recomputation: key -> counts and sums, straight from the rows."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        day = row["responded_at"].astimezone(ZoneInfo(zone)).date()
        groups[key(row, day)].append(row)
    result = {}
    for group, members in groups.items():
        nps = [r["nps_score"] for r in members if r["nps_score"] is not None]
        csat = [r["csat_score"] for r in members if r["csat_score"] is not None]
        result[group] = {
            "responses": len(members),
            "promoters": sum(score >= 9 for score in nps),
            "passives": sum(7 <= score <= 8 for score in nps),
            "detractors": sum(score <= 6 for score in nps),
            "nps_sum": sum(nps),
            "csat_count": len(csat),
            "csat_sum": sum(csat),
            "csat_satisfied": sum(score >= 4 for score in csat),
            "sentiment_positive": sum(r["sentiment"] == "positive" for r in members),
            "sentiment_neutral": sum(r["sentiment"] == "neutral" for r in members),
            "sentiment_negative": sum(r["sentiment"] == "negative" for r in members),
        }
    return result


def iso_week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month_label(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


COUNT_COLUMNS = list(Totals.__dataclass_fields__)


def stored_daily(conn) -> dict[tuple, dict]:
    rows = conn.execute(
        text(
            f"SELECT day, channel, customer_type, source, {', '.join(COUNT_COLUMNS)} "
            "FROM reporting.daily_rollup"
        )
    ).mappings()
    return {
        (row["day"], row["channel"], row["customer_type"], row["source"]): {
            c: int(row[c]) for c in COUNT_COLUMNS
        }
        for row in rows
    }


def series(conn, granularity: str, sources: tuple[str, ...] | None = None) -> dict[tuple, dict]:
    """The dashboard's series query over every day there is, keyed by period label."""
    everything = reporting.ReportFilter(date(2024, 1, 1), date(2026, 12, 31), sources=sources)
    return {
        (period.period_label,): {c: getattr(period.totals, c) for c in COUNT_COLUMNS}
        for period in reporting.fetch_series(conn, everything, granularity)
    }


_SERIAL = iter(range(1, 10**9))


def write_rows(conn, rows: list[dict]) -> None:
    if rows:
        conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, source, "
                "external_id, nps_score, csat_score, comment, sentiment) VALUES (:responded_at, "
                ":channel, :customer_type, :source, :external_id, :nps_score, :csat_score, "
                "'a comment', :sentiment)"
            ),
            [
                {**r, "external_id": None if r["source"] == "generated" else f"x{next(_SERIAL)}"}
                for r in rows
            ],
        )


def assert_reporting_matches(conn, rows: list[dict], zone: str) -> None:
    assert stored_daily(conn) == expected_totals(rows, zone, daily_key)
    assert series(conn, "week") == expected_totals(
        rows, zone, lambda row, day: (iso_week_label(day),)
    )
    assert series(conn, "month") == expected_totals(
        rows, zone, lambda row, day: (month_label(day),)
    )
    # The page's one-query breakdown answers what the three separate queries answer.
    for sources in (None, ("import:zendesk",)):
        everything = reporting.ReportFilter(date(2024, 1, 1), date(2026, 12, 31), sources=sources)
        for granularity in ("day", "week", "month"):
            breakdown = reporting.fetch_breakdown(conn, everything, granularity)
            assert breakdown.series == reporting.fetch_series(conn, everything, granularity)
            assert breakdown.by_channel == reporting.fetch_by_channel(conn, everything)
            assert breakdown.totals == reporting.fetch_totals(conn, everything)
    real = ("survey", "import:zendesk", "import:qualtrics")
    assert series(conn, "week", sources=real) == expected_totals(
        [r for r in rows if r["source"] in real], zone, lambda row, day: (iso_week_label(day),)
    )
    # The metrics the dashboard derives from the rollup equal the direct computation, each
    # with its own n.
    rollup = Totals.from_mapping(
        conn.execute(
            text(
                f"SELECT {', '.join(f'sum({c}) AS {c}' for c in COUNT_COLUMNS)} "
                "FROM reporting.daily_rollup"
            )
        )
        .mappings()
        .one()
    )
    nps = [r["nps_score"] for r in rows if r["nps_score"] is not None]
    csat = [r["csat_score"] for r in rows if r["csat_score"] is not None]
    assert rollup.nps_count == len(nps)
    if nps:
        promoters = sum(score >= 9 for score in nps)
        detractors = sum(score <= 6 for score in nps)
        assert rollup.nps == pytest.approx(100 * (promoters - detractors) / len(nps))
        assert rollup.mean_nps == pytest.approx(sum(nps) / len(nps))
    else:
        assert rollup.nps is None and rollup.mean_nps is None
    if csat:
        assert rollup.csat_pct == pytest.approx(100 * sum(s >= 4 for s in csat) / len(csat))
        assert rollup.mean_csat == pytest.approx(sum(csat) / len(csat))
    else:
        assert rollup.csat_pct is None
    assert rollup.responses == len(rows)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    rows=st.lists(responses, max_size=60),
    new_sentiment=st.sampled_from(SENTIMENTS),
    moved_by_hours=st.integers(-48, 48),
)
@example(zone="America/Sao_Paulo", rows=EDGE_ROWS, new_sentiment="neutral", moved_by_hours=0)
def test_rollup_and_series_equal_a_recomputation(
    migrated_db, zone, rows, new_sentiment, moved_by_hours
):
    reset_data(migrated_db.engine, business_timezone=zone)
    with migrated_db.engine.begin() as conn:
        # Loaded in two statements, as the job does batch by batch.
        write_rows(conn, rows[: len(rows) // 2])
    with migrated_db.engine.begin() as conn:
        write_rows(conn, rows[len(rows) // 2 :])
        assert_reporting_matches(conn, rows, zone)

    # Classifying sentiment (UPDATE) moves counts between sentiment columns only.
    with migrated_db.engine.begin() as conn:
        conn.execute(
            text("UPDATE app.survey_response SET sentiment = :s WHERE nps_score <= 6"),
            {"s": new_sentiment},
        )
        for row in rows:
            if row["nps_score"] is not None and row["nps_score"] <= 6:
                row["sentiment"] = new_sentiment
        assert_reporting_matches(conn, rows, zone)

    # An UPDATE that moves rows to other days and a DELETE keep the rollup exact too.
    shift = timedelta(hours=moved_by_hours)
    with migrated_db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE app.survey_response SET responded_at = responded_at + :shift "
                "WHERE channel = 'chat'"
            ),
            {"shift": shift},
        )
        conn.execute(text("DELETE FROM app.survey_response WHERE customer_type = 'enterprise'"))
        remaining = [
            {**r, "responded_at": r["responded_at"] + shift} if r["channel"] == "chat" else r
            for r in rows
            if r["customer_type"] != "enterprise"
        ]
        assert_reporting_matches(conn, remaining, zone)


def test_changing_the_business_timezone_rebuilds_the_rollup(db):
    with db.engine.begin() as conn:
        write_rows(conn, EDGE_ROWS)
    with db.engine.begin() as conn:
        assert (
            conn.execute(
                text("SELECT reporting.set_business_timezone('America/Sao_Paulo')")
            ).scalar()
            is True
        )
        assert_reporting_matches(conn, EDGE_ROWS, "America/Sao_Paulo")
        assert (
            conn.execute(
                text("SELECT reporting.set_business_timezone('America/Sao_Paulo')")
            ).scalar()
            is False
        )
        weeks = sorted(label for (label,) in series(conn, "week"))
    assert weeks == ["2025-W01", "2025-W48", "2025-W49", "2026-W01"]


def test_an_unknown_timezone_is_refused(db):
    with (
        pytest.raises(Exception, match='unknown time zone "Mars/Olympus"'),
        db.engine.begin() as conn,
    ):
        conn.execute(text("SELECT reporting.set_business_timezone('Mars/Olympus')"))


def test_truncating_responses_empties_the_rollup(db):
    with db.engine.begin() as conn:
        write_rows(conn, EDGE_ROWS)
        conn.execute(text("TRUNCATE app.survey_response"))
        assert conn.execute(text("SELECT count(*) FROM reporting.daily_rollup")).scalar() == 0
