"""Survey answers on the dashboard: through the rollup like any source, selected by default
with the suspected bots left out, a response rate per period and channel, and a comment holding
HTML shown as text."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from dashboard.queries import fetch_overview
from npscsat.reporting import ReportFilter, fetch_response_rates
from tests.dashboard.conftest import PASSWORD, insert_user, log_in, new_session
from tests.dashboard.test_app_home import metrics
from tests.survey.conftest import invite, make_client

HOSTILE = "<script>alert('x')</script><b>bold?</b> **not bold**"


@pytest.fixture
def answered(db, app_env):
    """Six invitations (four chat, two email); four answered through the survey page, one of
    them by a bot (the honeypot)."""
    insert_user(db.engine, "alice")
    page = make_client(db)
    with page.client:
        ids = [invite(db.engine, f"c-{i}", channel="chat") for i in range(4)]
        ids += [invite(db.engine, f"e-{i}", channel="email") for i in range(2)]
        assert page.answer(ids[0], nps_score="10", csat_score="5").status_code == 303
        assert (
            page.answer(ids[1], nps_score="3", csat_score="2", comment=HOSTILE).status_code == 303
        )
        assert page.answer(ids[4], nps_score="9").status_code == 303
        assert page.answer(ids[2], nps_score="0", website="spam").status_code == 303  # a bot
    with db.engine.begin() as conn:  # invited today: inside the page's default period
        conn.execute(text("UPDATE app.survey_invitation SET invited_at = now()"))
    return db


def signed_in():
    at = log_in(new_session().run(), "alice", PASSWORD)
    assert not at.exception, at.exception
    return at


def test_survey_answers_are_the_default_and_bots_are_left_out(answered):
    at = signed_in()
    sources = at.multiselect(key="filter_sources")
    assert sources.value == ["survey"]
    assert any("Survey: suspected bots" in option for option in sources.options)
    assert metrics(at)["Responses"][0] == "3"
    assert metrics(at)["NPS"][0].startswith("+33")  # promoters 10, 9; detractor 3
    sources.set_value(["survey", "survey:suspected_bot"]).run()
    assert metrics(at)["Responses"][0] == "4"


def test_the_response_rate_is_answered_over_invited_per_period_and_channel(answered):
    at = signed_in()
    assert metrics(at)["Response rate"][0] == "50.0 %"  # 3 of 6; the bot does not count
    assert any("3 answered of 6 invited" in c.value for c in at.main.caption)
    (table,) = [d for d in at.dataframe if "Response rate %" in d.value.columns]
    rows = {r["Channel"]: (r["Invited"], r["Answered"]) for r in table.value.to_dict("records")}
    assert rows == {"Live chat": (4, 2), "Email": (2, 1)}


def test_the_figures_equal_the_rollup_and_the_rates_equal_the_rows(answered):
    today = date.today()
    selection = ReportFilter(date(2000, 1, 1), today, sources=("survey",))
    with answered.dashboard_engine.connect() as conn:
        overview = fetch_overview(conn, selection, "week")
        rates = fetch_response_rates(conn, ReportFilter(date(2000, 1, 1), today), "day")
    assert overview.totals.responses == 3 and overview.totals.promoters == 2
    with answered.engine.connect() as conn:
        invited, done = conn.execute(
            text("SELECT count(*), count(answered_at) FROM app.survey_invitation")
        ).one()
    assert (rates.totals.invited, rates.totals.answered) == (invited, done) == (6, 3)
    assert sum(p.rate.invited for p in rates.series) == 6


def test_a_survey_comment_holding_html_is_shown_as_text(answered):
    at = signed_in()
    assert HOSTILE in [t.value for t in at.text]
    assert not any("<script>" in m.value for m in at.markdown)


def test_without_survey_in_the_selection_no_response_rate_is_shown(answered):
    at = signed_in()
    at.multiselect(key="filter_sources").set_value(["survey:suspected_bot"]).run()
    assert "Response rate" not in metrics(at)
