"""The home page of a signed-in session: figures checked against the raw rows, every filter,
comments rendered as text, and the empty / running / down states."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from sqlalchemy import text

from dashboard import queries
from jobs.runs import data_lock
from tests.dashboard.conftest import (
    PASSWORD,
    Response,
    insert_responses,
    insert_user,
    log_in,
    new_session,
    synthetic_responses,
)

LAST_DAY = date(2026, 11, 30)


def signed_in():
    at = log_in(new_session().run(), "alice", PASSWORD)
    assert not at.exception, at.exception
    return at


def metrics(at) -> dict[str, tuple[str, str]]:
    """Card name (without its "± margin") -> (value, change)."""
    return {m.label.split(" ±")[0]: (m.value, m.delta) for m in at.metric}


def chart_data(at, y_title: str) -> list[dict]:
    """The rows behind the chart whose y axis has this title."""
    for chart in at.get("vega_lite_chart"):
        if f'"title": "{y_title}"' in chart.proto.spec:
            rows = []
            for dataset in chart.proto.datasets:
                table = pa.ipc.open_stream(dataset.data.data).read_all()
                if "period" in table.column_names:
                    rows = table.to_pylist()
            return rows
    raise AssertionError(f"no chart with y title {y_title!r}")


def raw_counts(engine, start: date, end: date, channels=None, customer_types=None) -> dict:
    """Counts computed from the raw rows, independently of the rollup the page reads."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                text("""
                SELECT count(*) AS n,
                       count(*) FILTER (WHERE nps_score >= 9) AS promoters,
                       count(*) FILTER (WHERE nps_score <= 6) AS detractors,
                       count(csat_score) AS csat_n,
                       count(*) FILTER (WHERE csat_score >= 4) AS satisfied
                  FROM app.survey_response
                 WHERE (responded_at AT TIME ZONE
                        (SELECT business_timezone FROM reporting.settings))::date
                       BETWEEN :start AND :end
                   AND (CAST(:channels AS text[]) IS NULL
                        OR channel = ANY(CAST(:channels AS text[])))
                   AND (CAST(:types AS text[]) IS NULL
                        OR customer_type = ANY(CAST(:types AS text[])))
            """),
                {"start": start, "end": end, "channels": channels, "types": customer_types},
            )
            .mappings()
            .one()
        )
    return dict(row)


def expected_nps_text(counts: dict) -> str:
    return f"{100.0 * (counts['promoters'] - counts['detractors']) / counts['n']:+.1f}"


@pytest.fixture
def seeded(db, app_env):
    insert_user(db.engine, "alice")
    insert_responses(db.engine, synthetic_responses(1500, last_day=LAST_DAY, days=200))
    return db


def test_kpis_match_the_raw_rows_with_changes_against_the_previous_period(seeded):
    at = signed_in()
    start, end = at.date_input(key="filter_dates").value
    assert (start, end) == (LAST_DAY - timedelta(days=89), LAST_DAY)  # last 90 days of data
    now = raw_counts(seeded.engine, start, end)
    before = raw_counts(seeded.engine, start - timedelta(days=90), start - timedelta(days=1))
    shown = metrics(at)
    assert shown["Responses"][0] == f"{now['n']:,}"
    assert shown["NPS"][0] == expected_nps_text(now)
    assert shown["CSAT"][0] == f"{100.0 * now['satisfied'] / now['csat_n']:.1f}%"
    nps_change = float(expected_nps_text(now)) - float(expected_nps_text(before))
    assert float(shown["NPS"][1].removesuffix(" pts")) == pytest.approx(nps_change, abs=0.11)
    assert shown["Responses"][1].startswith(f"{now['n'] - before['n']:+,}")


def test_granularity_changes_the_periods_of_the_charts(seeded):
    at = signed_in()
    weeks = [row["period"] for row in chart_data(at, "NPS")]
    assert weeks and all("-W" in label for label in weeks)
    at.button_group(key="filter_granularity").set_value("month").run()
    months = [row["period"] for row in chart_data(at, "NPS")]
    assert months == ["2026-09", "2026-10", "2026-11"]
    at.button_group(key="filter_granularity").set_value("day").run()
    days = chart_data(at, "CSAT % (4-5 of 5)")
    assert len(days) == 90 and days[-1]["period"] == "2026-11-30"
    assert (
        sum(row["responses"] for row in days)
        == raw_counts(seeded.engine, LAST_DAY - timedelta(days=89), LAST_DAY)["n"]
    )


def test_date_range_changes_the_figures(seeded):
    at = signed_in()
    start, end = date(2026, 11, 1), date(2026, 11, 14)
    at.date_input(key="filter_dates").set_value((start, end)).run()
    counts = raw_counts(seeded.engine, start, end)
    assert metrics(at)["Responses"][0] == f"{counts['n']:,}"
    assert metrics(at)["NPS"][0] == expected_nps_text(counts)
    weeks = [row["period"] for row in chart_data(at, "NPS")]
    assert weeks == ["2026-W44", "2026-W45", "2026-W46"]  # Sun 1 Nov is in ISO week 44


def test_channel_and_customer_type_filters_change_the_figures(seeded):
    at = signed_in()
    start, end = at.date_input(key="filter_dates").value
    at.multiselect(key="filter_channels").set_value(["chat", "email"]).run()
    counts = raw_counts(seeded.engine, start, end, channels=["chat", "email"])
    assert metrics(at)["Responses"][0] == f"{counts['n']:,}"
    assert metrics(at)["NPS"][0] == expected_nps_text(counts)
    channel_table = at.dataframe[0].value
    assert list(channel_table["channel"]) == ["Email", "Live chat"]  # labels from the database

    at.multiselect(key="filter_customer_types").set_value(["enterprise"]).run()
    counts = raw_counts(
        seeded.engine, start, end, channels=["chat", "email"], customer_types=["enterprise"]
    )
    assert metrics(at)["Responses"][0] == f"{counts['n']:,}"


def test_an_empty_selection_asks_for_a_choice_instead_of_showing_zeros(seeded):
    at = signed_in()
    at.multiselect(key="filter_channels").set_value([]).run()
    assert not at.exception
    assert "No channel selected" in at.info[0].value
    assert not at.metric
    at.multiselect(key="filter_channels").set_value(["phone"]).run()
    at.multiselect(key="filter_customer_types").set_value([]).run()
    assert "No customer type selected" in at.info[0].value


def test_a_period_without_responses_says_so(seeded):
    with seeded.engine.begin() as conn:  # a quiet week inside the data's span
        conn.execute(
            text("DELETE FROM app.survey_response WHERE responded_at >= :a AND responded_at < :b"),
            {"a": datetime(2026, 11, 2, tzinfo=UTC), "b": datetime(2026, 11, 9, tzinfo=UTC)},
        )
    at = signed_in()
    at.date_input(key="filter_dates").set_value((date(2026, 11, 2), date(2026, 11, 8))).run()
    assert "No responses match this selection" in at.info[0].value
    assert metrics(at)["Responses"][0] == "0" and metrics(at)["NPS"][0] == "—"


def test_low_sample_periods_are_marked(seeded, monkeypatch):
    with seeded.engine.connect() as conn:  # a threshold between the smallest and largest week
        weekly = (
            conn.execute(
                text(
                    "SELECT count(*) FROM app.survey_response WHERE responded_at >= :since "
                    "GROUP BY date_trunc('week', responded_at) ORDER BY 1"
                ),
                {"since": datetime(2026, 9, 2, tzinfo=UTC)},
            )
            .scalars()
            .all()
        )
    threshold = weekly[len(weekly) // 2]
    assert weekly[0] < threshold
    monkeypatch.setenv("DASHBOARD_MIN_SAMPLE", str(threshold))
    at = signed_in()
    rows = chart_data(at, "NPS")
    flagged = {row["period"] for row in rows if row["nps_sample"].startswith("low sample")}
    assert flagged == {row["period"] for row in rows if row["responses"] < threshold}
    assert flagged and len(flagged) < len(rows)
    at.date_input(key="filter_dates").set_value((LAST_DAY, LAST_DAY)).run()
    assert any(f"fewer than {threshold}" in w.value for w in at.warning)


def test_comments_are_plain_text_detractors_first_and_searchable(db, app_env):
    insert_user(db.engine, "alice")
    day = datetime(2026, 11, 30, 12, tzinfo=UTC)
    hostile = "<script>alert('x')</script> **not bold** [link](http://evil) :red[alarm]"
    insert_responses(
        db.engine,
        [
            Response(day, nps_score=10, comment="Great: refund was quick"),
            Response(day - timedelta(hours=1), nps_score=2, comment=hostile, sentiment="negative"),
            Response(day - timedelta(hours=2), nps_score=8, comment="Fine, no refund needed"),
        ],
    )
    at = signed_in()
    comments = [t.value for t in at.text]
    assert comments == [hostile, "Great: refund was quick", "Fine, no refund needed"]
    assert at.markdown  # each comment's heading names its category
    assert any("Detractor" in m.value for m in at.markdown)
    at.text_input(key="comment_search").input("REFUND").run()
    assert [t.value for t in at.text] == ["Great: refund was quick", "Fine, no refund needed"]
    at.text_input(key="comment_search").input("100%_").run()  # wildcards are literal
    assert not at.text
    assert "No comment matches." in [c.value for c in at.main.caption]


def test_no_data_says_the_job_has_not_run(db, app_env):
    insert_user(db.engine, "alice")
    at = signed_in()
    assert "the data job has not run" in at.info[0].value
    assert not at.metric and not at.get("vega_lite_chart")


def add_run(engine, **columns) -> uuid.UUID:
    run_id = uuid.uuid4()
    values = {"status": "running", "target": 1000, "written": 0, "model": "qwen2.5:0.5b"}
    values.update(columns)
    names = ", ".join(values)
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO app.job_run (run_id, {names}) "
                f"VALUES (:run_id, {', '.join(':' + n for n in values)})"
            ),
            {"run_id": run_id, **values},
        )
    return run_id


def test_a_live_run_says_what_it_is_doing(seeded):
    with data_lock(seeded.engine):  # what a live run's process holds
        add_run(seeded.engine, phase="generating", written=400, eta_seconds=360)
        at = signed_in()
        generating = at.info[0].value
        add_run(seeded.engine, phase="waiting_for_model", phase_detail="42 %")
        queries.load_job_status.clear()
        at = signed_in()
        waiting = at.info[0].value
    assert "Generating demo responses with `qwen2.5:0.5b`:** 400 / 1,000, about 6 minutes left" in (
        generating.replace("\\", "")
    )
    assert "**Downloading the model** `qwen2.5:0.5b` (42 %)" in waiting.replace("\\", "")
    assert at.metric  # the figures so far are still shown below


def test_a_run_whose_process_died_is_not_shown_as_running(seeded):
    add_run(seeded.engine, phase="generating", written=400)  # nobody holds the lock
    at = signed_in()
    assert not [i for i in at.info if "Generating" in i.value]
    warning = at.warning[0].value
    assert "stopped without finishing" in warning and "400 / 1,000" in warning


def test_a_failed_run_and_a_finished_one(seeded):
    add_run(seeded.engine, status="failed", detail="Ollama at http://ollama:11434 gave nothing")
    at = signed_in()
    assert "failed" in at.warning[0].value and "gave nothing" in at.warning[0].value
    add_run(seeded.engine, status="succeeded", written=1000, finished_at=datetime.now(UTC))
    queries.load_job_status.clear()
    at = signed_in()
    assert "Demo data ready:** 1,000 responses" in at.success[0].value


def test_periods_and_timestamps_use_the_business_zone_from_the_database(seeded):
    with seeded.engine.begin() as conn:
        conn.execute(text("SELECT reporting.set_business_timezone('America/Sao_Paulo')"))
        updated_at = conn.execute(text("SELECT max(updated_at) FROM reporting.daily_rollup"))
        updated_at = updated_at.scalar_one()
    at = signed_in()
    heading = at.caption[0].value.replace("\\", "")
    assert "Periods in America/Sao_Paulo" in heading
    local = updated_at.astimezone(__import__("zoneinfo").ZoneInfo("America/Sao_Paulo"))
    assert f"data as of {local:%Y-%m-%d %H:%M}" in heading


def test_database_down_after_login_shows_a_message_and_retry_recovers(seeded, monkeypatch):
    at = signed_in()
    good = seeded.dashboard_url.render_as_string(hide_password=False)
    monkeypatch.setenv(
        "DASHBOARD_DATABASE_URL",
        seeded.dashboard_url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False),
    )
    at.run()
    assert not at.exception
    assert "The database is unreachable" in at.error[0].value
    assert not at.metric
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", good)
    at.button(key="retry_database").click().run()
    assert not at.error and at.metric


def test_csv_downloads_are_offered_for_periods_and_channels(seeded):
    at = signed_in()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Figures per ISO week (CSV)", "Figures per channel (CSV)"]
