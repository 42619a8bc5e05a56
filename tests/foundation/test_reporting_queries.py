"""The dashboard's read queries, run as the read-only role against known rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from npscsat import reporting as q
from npscsat.metrics import Totals
from tests.conftest import reset_data

# (local day in America/Sao_Paulo, hour, channel, customer type, nps, csat, comment)
ROWS = [
    (date(2026, 11, 2), 10, "chat", "individual", 10, 5, "Loved it"),
    (date(2026, 11, 2), 11, "chat", "enterprise", 3, 2, "Slow and rude"),
    (date(2026, 11, 8), 23, "email", "individual", 8, 4, "100% fine_ok"),  # Sunday 23:00
    (date(2026, 11, 9), 9, "phone", "small_business", 6, None, None),  # next ISO week
    (date(2026, 12, 1), 12, "chat", "individual", 9, 3, "<script>alert(1)</script>"),
]


def at(day: date, hour: int) -> datetime:
    # America/Sao_Paulo is UTC-3 all year (no DST since 2019).
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(hours=3)


@pytest.fixture
def seeded(db):
    reset_data(db.engine, business_timezone="America/Sao_Paulo")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.survey_response (responded_at, channel, customer_type, "
                "nps_score, csat_score, comment) VALUES (:ts, :ch, :ct, :nps, :csat, :comment)"
            ),
            [
                {"ts": at(d, h), "ch": ch, "ct": ct, "nps": nps, "csat": csat, "comment": c}
                for d, h, ch, ct, nps, csat, c in ROWS
            ],
        )
    with db.dashboard_engine.connect() as conn:
        yield conn


NOVEMBER = q.ReportFilter(date(2026, 11, 1), date(2026, 11, 30))


def test_totals_of_a_selection(seeded):
    totals = q.fetch_totals(seeded, NOVEMBER)
    assert (totals.responses, totals.promoters, totals.passives, totals.detractors) == (4, 1, 1, 2)
    assert totals.nps == pytest.approx(-25.0)
    assert totals.mean_nps == pytest.approx(27 / 4)
    assert (totals.csat_count, totals.csat_satisfied) == (3, 2)
    assert totals.mean_csat == pytest.approx(11 / 3)


def test_filters_narrow_the_totals(seeded):
    chat = q.ReportFilter(date(2026, 11, 1), date(2026, 12, 31), channels=("chat",))
    assert q.fetch_totals(seeded, chat).responses == 3
    chat_individual = q.ReportFilter(
        chat.start, chat.end, channels=("chat",), customer_types=("individual",)
    )
    assert q.fetch_totals(seeded, chat_individual).responses == 2
    nothing = q.ReportFilter(chat.start, chat.end, channels=())
    assert q.fetch_totals(seeded, nothing) == Totals()
    assert q.fetch_series(seeded, nothing, "day") == []


@pytest.mark.parametrize(
    ("granularity", "labels", "counts"),
    [
        ("day", ["2026-11-02", "2026-11-08", "2026-11-09", "2026-12-01"], [2, 1, 1, 1]),
        ("week", ["2026-W45", "2026-W46", "2026-W49"], [3, 1, 1]),
        ("month", ["2026-11", "2026-12"], [4, 1]),
    ],
)
def test_series_per_period_in_the_business_timezone(seeded, granularity, labels, counts):
    whole = q.ReportFilter(date(2026, 10, 1), date(2026, 12, 31))
    series = q.fetch_series(seeded, whole, granularity)
    assert [p.period_label for p in series] == labels
    assert [p.totals.responses for p in series] == counts


def test_an_unknown_granularity_is_refused(seeded):
    with pytest.raises(ValueError, match="granularity must be one of"):
        q.fetch_series(seeded, NOVEMBER, "year")


def test_totals_by_channel_in_display_order(seeded):
    rows = q.fetch_by_channel(seeded, NOVEMBER)
    assert [(r.channel, r.label, r.totals.responses) for r in rows] == [
        ("phone", "Phone", 1),
        ("email", "Email", 1),
        ("chat", "Live chat", 2),
    ]


def test_comments_put_detractors_first_then_latest(seeded):
    whole = q.ReportFilter(date(2026, 11, 1), date(2026, 12, 31))
    comments = q.fetch_comments(seeded, whole)
    assert [c.comment for c in comments] == [
        "Slow and rude",
        "<script>alert(1)</script>",
        "100% fine_ok",
        "Loved it",
    ]
    assert q.fetch_comments(seeded, whole, limit=1)[0].nps_category == "detractor"


def test_comment_bounds_follow_business_days(seeded):
    # The Sunday 23:00 comment is 02:00 UTC on Monday, but belongs to Sunday the 8th.
    sunday = q.ReportFilter(date(2026, 11, 8), date(2026, 11, 8))
    assert [c.comment for c in q.fetch_comments(seeded, sunday)] == ["100% fine_ok"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("RUDE", ["Slow and rude"]),
        ("%", ["100% fine_ok"]),
        ("_", ["100% fine_ok"]),
        ("' OR 1=1 --", []),
        ("<script>", ["<script>alert(1)</script>"]),
    ],
)
def test_comment_search_is_literal_and_case_insensitive(seeded, search, expected):
    whole = q.ReportFilter(date(2026, 11, 1), date(2026, 12, 31))
    assert [c.comment for c in q.fetch_comments(seeded, whole, search=search)] == expected


def test_previous_period_has_the_same_length():
    selection = q.ReportFilter(date(2026, 11, 1), date(2026, 11, 30), channels=("chat",))
    previous = selection.previous_period()
    assert (previous.start, previous.end) == (date(2026, 10, 2), date(2026, 10, 31))
    assert previous.channels == ("chat",)


def test_a_reversed_range_is_refused():
    with pytest.raises(ValueError, match="after end"):
        q.ReportFilter(date(2026, 12, 1), date(2026, 11, 1))


def test_lookup_lists_status_and_login_users(seeded, db):
    assert [o.code for o in q.fetch_channels(seeded)] == [
        "phone",
        "email",
        "chat",
        "whatsapp",
        "self_service",
    ]
    assert [o.label for o in q.fetch_customer_types(seeded)] == [
        "Individual",
        "Small business",
        "Enterprise",
    ]
    status = q.fetch_data_status(seeded)
    assert (status.responses, status.first_day, status.last_day) == (
        5,
        date(2026, 11, 2),
        date(2026, 12, 1),
    )
    assert status.business_timezone == "America/Sao_Paulo"
    assert q.fetch_job_status(seeded) is None

    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app.users (username, display_name, password_hash, is_active) VALUES "
                "('Dana', 'Dana', :h, true), ('eve', 'Eve', :h, false)"
            ),
            {"h": "$2b$12$" + "c" * 53},
        )
    users = q.fetch_login_users(seeded)
    assert [u.username for u in users] == ["Dana"]
    assert [u.username for u in q.fetch_login_users(seeded, ["DANA"])] == ["Dana"]
