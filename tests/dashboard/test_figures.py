"""Shaping of the page's figures, their text and the filter rules (pure functions)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest

from dashboard.figures import ChannelRow, PeriodRow, figures_of, period_rows, summarize, to_csv
from dashboard.filters import build_selection, chosen_codes, date_range, default_range, today_in
from dashboard.formatting import (
    escape_markdown,
    kpi_delta,
    kpi_label,
    kpi_value,
    local_timestamp,
)
from npscsat.metrics import Totals
from npscsat.reporting import ChannelTotals, PeriodTotals

# 40 answers: 20 promoters, 12 passives, 8 detractors; 30 CSAT answers, 24 satisfied.
SOLID = Totals(
    responses=40,
    promoters=20,
    passives=12,
    detractors=8,
    nps_sum=300,
    csat_count=30,
    csat_sum=120,
    csat_satisfied=24,
)
# 4 answers: 1 promoter, 3 detractors; no CSAT answer.
SMALL = Totals(responses=4, promoters=1, detractors=3, nps_sum=20)


def test_figures_of_a_solid_group():
    f = figures_of(SOLID, min_sample=30)
    assert f.nps == pytest.approx(30.0)  # (20 - 8) / 40
    assert (f.promoter_pct, f.passive_pct, f.detractor_pct) == pytest.approx((50.0, 30.0, 20.0))
    assert f.nps_low == pytest.approx(30.0 - f.nps_margin)
    assert f.nps_high == pytest.approx(30.0 + f.nps_margin)
    assert f.csat_pct == pytest.approx(80.0) and f.mean_csat == pytest.approx(4.0)
    assert f.csat_low < 80.0 < f.csat_high
    assert not f.low_sample and not f.csat_low_sample


def test_figures_of_a_small_group_are_flagged_and_the_band_stays_on_the_scale():
    f = figures_of(SMALL, min_sample=30)
    assert f.low_sample and f.csat_low_sample
    assert f.nps == pytest.approx(-50.0)
    assert f.nps_low >= -100.0 and f.nps_high <= 100.0
    assert f.csat_pct is None and f.csat_low is None and f.mean_csat is None


def test_period_rows_keep_order_and_labels():
    series = [
        PeriodTotals(date(2026, 11, 23), "2026-W48", SOLID),
        PeriodTotals(date(2026, 11, 30), "2026-W49", SMALL),
    ]
    rows = period_rows(series, min_sample=30)
    assert [r.period_label for r in rows] == ["2026-W48", "2026-W49"]
    assert [r.figures.low_sample for r in rows] == [False, True]


def test_summary_compares_with_the_previous_period():
    summary = summarize(SOLID, SMALL, min_sample=30)
    assert summary.nps.delta == pytest.approx(30.0 - (-50.0))
    assert summary.responses.delta == pytest.approx(36.0)
    assert summary.csat.previous is None and summary.csat.delta is None  # no CSAT before
    low, high = summary.csat.interval
    assert summary.csat.margin == pytest.approx((high - low) / 2)
    assert not summary.low_sample


def test_summary_without_previous_data_has_no_deltas():
    summary = summarize(SMALL, Totals(), min_sample=30)
    assert summary.low_sample
    for kpi in (summary.nps, summary.mean_nps, summary.csat, summary.mean_csat, summary.responses):
        assert kpi.delta is None


def test_kpi_text():
    summary = summarize(SOLID, SMALL, min_sample=30)
    assert kpi_value(summary.nps) == "+30.0"
    assert kpi_label(summary.nps) == f"NPS ±{summary.nps.margin:.1f}"
    assert kpi_delta(summary.nps) == "+80.0 pts"
    assert kpi_value(summary.csat) == "80.0%"
    assert kpi_label(summary.csat) == f"CSAT ±{summary.csat.margin:.1f}"
    assert kpi_label(summary.mean_csat) == "Mean CSAT"  # no margin shown for means
    assert kpi_value(summary.mean_nps) == "7.50"
    assert kpi_delta(summary.mean_nps) == "+2.50"  # 300 / 40 - 20 / 4
    assert kpi_value(summary.responses) == "40"
    assert kpi_delta(summary.responses) == "+36 (+900.0%)"
    worse = summarize(SMALL, SOLID, min_sample=30)
    assert kpi_delta(worse.nps) == "-80.0 pts"  # ASCII minus: st.metric colours it red
    empty = summarize(Totals(), Totals(), min_sample=30)
    assert kpi_value(empty.nps) == "—" and kpi_delta(empty.nps) is None
    assert kpi_label(empty.nps) == "NPS"


def test_csv_has_every_figure_and_a_header_even_when_empty():
    rows = period_rows([PeriodTotals(date(2026, 11, 1), "2026-11", SOLID)], 30)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows, PeriodRow, ["import:zendesk"]))))
    assert len(parsed) == 1
    assert parsed[0]["sources"] == "import:zendesk"  # a file passed on says what it covers
    assert parsed[0]["period_label"] == "2026-11"
    assert float(parsed[0]["nps"]) == pytest.approx(30.0)
    assert parsed[0]["low_sample"] == "false"
    assert parsed[0]["csat_pct"] == "80.0"
    empty = to_csv([], PeriodRow, ["generated"])
    assert empty.splitlines() == [to_csv(rows, PeriodRow, ["generated"]).splitlines()[0]]


def test_csv_neutralises_formula_cells_and_leaves_numbers_alone():
    hostile = ChannelTotals("chat", '=HYPERLINK("http://evil")', SMALL)
    rows = [ChannelRow(c.channel, c.label, figures_of(c.totals, 30)) for c in [hostile]]
    parsed = next(csv.DictReader(io.StringIO(to_csv(rows, ChannelRow, ["generated"]))))
    assert parsed["label"].startswith("'=")
    assert parsed["nps"] == "-50.0"  # a negative number is not a formula
    assert parsed["csat_pct"] == ""  # undefined stays empty, not 0


def test_escape_markdown_leaves_nothing_for_markdown_or_html_to_act_on():
    hostile = "**bold** <b>x</b> [link](http://x) :red[alert] `code` # title"
    escaped = escape_markdown(hostile)
    assert re.search(r"(?<!\\)[*<>\[\]()`#:]", escaped) is None  # each one escaped
    assert escaped.replace("\\", "") == hostile


def test_local_timestamp_uses_the_business_zone():
    moment = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    assert local_timestamp(moment, "America/Sao_Paulo") == "2026-11-30 23:30"
    assert local_timestamp(moment, "UTC") == "2026-12-01 02:30"
    assert local_timestamp(None, "UTC") == "—"


def test_today_is_the_business_day_not_the_server_day():
    just_after_midnight_utc = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert today_in("America/Sao_Paulo", just_after_midnight_utc) == date(2026, 11, 30)
    assert today_in("Asia/Tokyo", just_after_midnight_utc) == date(2026, 12, 1)


def test_default_range_is_the_last_90_days_of_data():
    assert default_range(date(2026, 1, 1), date(2026, 11, 30)) == (
        date(2026, 9, 2),
        date(2026, 11, 30),
    )
    # younger data: from its first day
    assert default_range(date(2026, 11, 20), date(2026, 11, 30)) == (
        date(2026, 11, 20),
        date(2026, 11, 30),
    )


def test_chosen_codes():
    offered = ["phone", "email", "chat"]
    assert chosen_codes(["chat", "phone", "email"], offered) is None  # all: no filter
    assert chosen_codes(["chat", "phone"], offered) == ("phone", "chat")  # offered order
    assert chosen_codes([], offered) == ()


def test_date_range_accepts_what_the_widget_returns():
    a, b = date(2026, 11, 1), date(2026, 11, 5)
    assert date_range((a, b)) == (a, b)
    assert date_range((b, a)) == (a, b)
    assert date_range((a,)) == (a, a)  # end not picked yet
    assert date_range(a) == (a, a)
    assert date_range(()) is None and date_range(None) is None


def test_build_selection_names_what_is_missing():
    kwargs = {"offered_channels": ["chat", "email"], "offered_customer_types": ["individual"]}
    dates = (date(2026, 11, 1), date(2026, 11, 30))
    assert "channel" in build_selection(dates, [], ["individual"], "day", **kwargs)
    assert "customer type" in build_selection(dates, ["chat"], [], "day", **kwargs)
    assert "period" in build_selection((), ["chat"], ["individual"], "day", **kwargs)
    selection = build_selection(dates, ["chat"], ["individual"], "month", **kwargs)
    assert selection.channels == ("chat",) and selection.customer_types is None
    assert selection.granularity == "month" and selection.days == 30
    previous = selection.report_filter().previous_period()
    assert (previous.start, previous.end) == (date(2026, 10, 2), date(2026, 10, 31))
