"""Synthetic and real data kept apart on the page (the source filter, the demo-data notice, the
CSV files' sources), and periods that hold only CSAT or only NPS answers: every figure with its
own n, checked against a recomputation from the rows."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from dashboard.figures import PeriodRow, figures_of, period_rows, summarize, to_csv
from dashboard.home import export_stem
from dashboard.queries import fetch_overview
from npscsat.metrics import Totals, wilson_interval
from npscsat.reporting import ReportFilter
from tests.dashboard.conftest import (
    PASSWORD,
    Response,
    insert_responses,
    insert_user,
    log_in,
    new_session,
    synthetic_responses,
)
from tests.dashboard.test_app_home import chart_data, metrics
from tests.lookups import restore_channels
from tests.recompute import totals_of

LAST_DAY = date(2026, 11, 30)
NOTICE = "demo data written by a language model"


def signed_in():
    at = log_in(new_session().run(), "alice", PASSWORD)
    assert not at.exception, at.exception
    return at


def notices(at) -> list[str]:
    return [w.value for w in at.warning if NOTICE in w.value]


def count(engine, sources: tuple[str, ...], start: date, end: date) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM app.survey_response WHERE source = ANY(:s) "
                "AND (responded_at AT TIME ZONE 'UTC')::date BETWEEN :a AND :b"
            ),
            {"s": list(sources), "a": start, "b": end},
        ).scalar_one()


@pytest.fixture
def mixed(db, app_env):
    insert_user(db.engine, "alice")
    insert_responses(db.engine, synthetic_responses(900, last_day=LAST_DAY, days=120))
    insert_responses(
        db.engine,
        synthetic_responses(200, last_day=LAST_DAY, days=90, seed=3, source="import:helpdesk"),
    )
    return db


def test_real_responses_are_the_default_and_demo_data_is_named_whenever_shown(mixed):
    at = signed_in()
    assert at.multiselect(key="filter_sources").value == ["import:helpdesk"]
    assert not notices(at)  # nothing generated on the page
    start, end = at.date_input(key="filter_dates").value
    real = count(mixed.engine, ("import:helpdesk",), start, end)
    assert metrics(at)["Responses"][0] == f"{real:,}"
    labels = [o for o in at.multiselect(key="filter_sources").options]
    assert any("Import: helpdesk" in o for o in labels)
    assert any("Demo data (generated)" in o for o in labels)

    at.multiselect(key="filter_sources").set_value(["import:helpdesk", "generated"]).run()
    assert not at.exception
    [notice] = notices(at)
    assert "not answers from real customers" in notice
    both = count(mixed.engine, ("import:helpdesk", "generated"), start, end)
    assert metrics(at)["Responses"][0] == f"{both:,}"
    # Comments of the demo data carry their own mark.
    assert any("Demo data" in m.value for m in at.markdown if "NPS" in m.value)

    at.multiselect(key="filter_sources").set_value([]).run()
    assert "No source selected" in at.info[0].value and not at.metric


def test_demo_data_alone_is_shown_with_the_notice_and_the_way_to_real_data(db, app_env):
    insert_user(db.engine, "alice")
    insert_responses(db.engine, synthetic_responses(300, last_day=LAST_DAY, days=60))
    at = signed_in()
    assert at.multiselect(key="filter_sources").value == ["generated"]
    [notice] = notices(at)
    assert "python -m jobs import" in notice
    assert at.metric


def test_the_csv_files_name_the_sources_they_cover(mixed):
    selection = ReportFilter(LAST_DAY - timedelta(days=30), LAST_DAY, sources=("import:helpdesk",))
    with mixed.dashboard_engine.connect() as conn:
        overview = fetch_overview(conn, selection, "week")
    rows = period_rows(overview.series, 30)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows, PeriodRow, ["import:helpdesk"]))))
    assert parsed and {row["sources"] for row in parsed} == {"import:helpdesk"}
    at = signed_in()  # (the file names are checked in the browser test, which downloads them)
    assert any(
        "cover the sources: import:helpdesk" in c.value.replace("\\", "") for c in at.caption
    )


class _Stem:
    start, end = date(2026, 11, 1), date(2026, 11, 30)


def test_the_file_name_says_demo_for_generated_data():
    assert export_stem(_Stem(), ["import:zendesk", "generated"]) == (
        "npscsat_2026-11-01_2026-11-30_import-zendesk+demo"
    )


def test_a_channel_added_by_the_job_is_offered_by_the_filters(db, app_env):
    from jobs.lookups import add_code

    insert_user(db.engine, "alice")
    try:
        assert add_code(db.engine, "channel", "sms", "Text message")
        insert_responses(
            db.engine,
            [
                Response(
                    datetime(2026, 11, 30, 12, tzinfo=UTC),
                    channel="sms",
                    source="import:helpdesk",
                    external_id="s-1",
                )
            ],
        )
        at = signed_in()
        channels = at.multiselect(key="filter_channels")
        assert "Text message" in channels.options and "sms" in channels.value
        assert metrics(at)["Responses"][0] == "1"
        assert [row["channel"] for row in at.dataframe[0].value.to_dict("records")] == [
            "Text message"
        ]
    finally:
        restore_channels(db.engine)


# --- periods with CSAT answers only, or NPS answers only ------------------------------------

CSAT_WEEK = [date(2026, 11, 9) + timedelta(days=i) for i in range(7)]  # ISO week 46
NPS_WEEK = [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]  # ISO week 47


def one_score_rows() -> list[Response]:
    rows = []
    for i in range(70):
        day = CSAT_WEEK[i % 7]
        rows.append(
            Response(
                datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                nps_score=None,
                csat_score=1 + i % 5,
                comment="CSAT only" if i == 0 else None,
                source="import:zendesk",
                external_id=f"z-{i}",
            )
        )
    for i in range(50):
        day = NPS_WEEK[i % 7]
        rows.append(
            Response(
                datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                nps_score=i % 11,
                csat_score=None,
                source="import:delighted",
                external_id=f"d-{i}",
            )
        )
    return rows


@pytest.fixture
def one_score(db, app_env):
    insert_user(db.engine, "alice")
    insert_responses(db.engine, one_score_rows())
    return db


def test_a_period_with_csat_answers_only_shows_csat_and_no_nps(one_score):
    at = signed_in()
    at.date_input(key="filter_dates").set_value((CSAT_WEEK[0], CSAT_WEEK[-1])).run()
    assert not at.exception
    shown = metrics(at)
    csat = [1 + i % 5 for i in range(70)]
    satisfied = sum(score >= 4 for score in csat)
    assert shown["NPS"][0] == "—" and shown["Mean NPS score"][0] == "—"
    assert shown["CSAT"][0] == f"{100 * satisfied / 70:.1f}%"
    assert shown["Mean CSAT"][0] == f"{sum(csat) / 70:.2f}"
    low, high = wilson_interval(satisfied, 70)
    assert [m.label for m in at.metric if m.label.startswith("CSAT")] == [
        f"CSAT ±{100 * (high - low) / 2:.1f}"
    ]
    assert any("0 NPS answers · 70 CSAT answers · 70 responses" in c.value for c in at.caption)
    [week] = chart_data(at, "NPS")
    assert week["nps"] is None and week["csat"] == pytest.approx(100 * satisfied / 70)
    assert "No NPS" in " ".join(m.value for m in at.markdown)  # the comment's heading


def test_a_period_with_nps_answers_only_shows_nps_and_no_csat(one_score):
    at = signed_in()
    at.date_input(key="filter_dates").set_value((NPS_WEEK[0], NPS_WEEK[-1])).run()
    shown = metrics(at)
    scores = [i % 11 for i in range(50)]
    promoters, detractors = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
    p, d = promoters / 50, detractors / 50
    margin = 1.96 * 100 * math.sqrt((p + d - (p - d) ** 2) / 50)
    assert shown["NPS"][0] == f"{100 * (p - d):+.1f}"
    assert [m.label for m in at.metric if m.label.startswith("NPS")] == [f"NPS ±{margin:.1f}"]
    assert shown["CSAT"][0] == "—" and shown["Mean CSAT"][0] == "—"
    assert shown["Responses"][0] == "50"


def test_both_weeks_together_keep_each_figure_on_its_own_n(one_score):
    selection = ReportFilter(CSAT_WEEK[0], NPS_WEEK[-1])
    with one_score.dashboard_engine.connect() as conn:
        overview = fetch_overview(conn, selection, "week")
    rows = {r.period_label: r.figures for r in period_rows(overview.series, 30)}
    assert rows["2026-W46"].nps is None and rows["2026-W46"].csat_responses == 70
    assert rows["2026-W47"].csat_pct is None and rows["2026-W47"].nps_responses == 50
    parsed = {
        r["period_label"]: r
        for r in csv.DictReader(
            io.StringIO(to_csv(period_rows(overview.series, 30), PeriodRow, ["import:zendesk"]))
        )
    }
    assert parsed["2026-W46"]["nps"] == "" and parsed["2026-W46"]["nps_responses"] == "0"
    assert parsed["2026-W47"]["csat_pct"] == "" and parsed["2026-W47"]["nps_responses"] == "50"
    summary = summarize(overview.totals, Totals(), 30)
    assert summary.nps_responses == 50 and summary.csat_responses == 70
    assert summary.responses.value == 120


# --- figures, margins and CSV of any mix of answers: pure, against a recomputation ---------

answer = st.one_of(
    st.tuples(st.integers(0, 10), st.none() | st.integers(1, 5)),
    st.tuples(st.none(), st.integers(1, 5)),
)


@given(st.lists(answer, max_size=80))
def test_figures_margins_and_csv_of_any_mix_equal_a_recomputation(answers):
    nps = [n for n, _ in answers if n is not None]
    csat = [c for _, c in answers if c is not None]
    totals = totals_of(answers)
    f = figures_of(totals, 30)
    assert (f.responses, f.nps_responses, f.csat_responses) == (len(answers), len(nps), len(csat))
    if nps:
        p = sum(n >= 9 for n in nps) / len(nps)
        d = sum(n <= 6 for n in nps) / len(nps)
        assert f.nps == pytest.approx(100 * (p - d))
        assert f.nps_margin == pytest.approx(
            1.96 * 100 * math.sqrt((p + d - (p - d) ** 2) / len(nps))
        )
        assert f.mean_nps == pytest.approx(sum(nps) / len(nps))
        assert f.promoter_pct + f.passive_pct + f.detractor_pct == pytest.approx(100.0)
    else:
        assert f.nps is None and f.nps_margin is None and f.promoter_pct is None
    if csat:
        satisfied = sum(c >= 4 for c in csat)
        low, high = wilson_interval(satisfied, len(csat))
        assert f.csat_pct == pytest.approx(100 * satisfied / len(csat))
        assert (f.csat_low, f.csat_high) == pytest.approx((100 * low, 100 * high))
        assert f.mean_csat == pytest.approx(sum(csat) / len(csat))
    else:
        assert f.csat_pct is None and f.csat_low is None and f.mean_csat is None
    assert f.low_sample == (len(nps) < 30) and f.csat_low_sample == (len(csat) < 30)
    [row] = csv.DictReader(
        io.StringIO(to_csv(period_rows_of(totals), PeriodRow, ["survey", "import:zendesk"]))
    )
    assert row["sources"] == "survey import:zendesk"
    assert row["nps_responses"] == str(len(nps)) and row["csat_responses"] == str(len(csat))
    assert (row["nps"] == "") == (not nps) and (row["csat_pct"] == "") == (not csat)
    if nps:
        assert float(row["nps"]) == pytest.approx(f.nps, abs=1e-4)
        assert float(row["nps_low"]) == pytest.approx(max(-100.0, f.nps - f.nps_margin), abs=1e-4)


def period_rows_of(totals: Totals) -> list[PeriodRow]:
    from npscsat.reporting import PeriodTotals

    return period_rows([PeriodTotals(date(2026, 11, 2), "2026-W45", totals)], 30)
