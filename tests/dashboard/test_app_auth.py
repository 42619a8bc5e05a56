"""Route protection and login of the running app (Streamlit AppTest against PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from jobs import users
from tests.dashboard.conftest import (
    PASSWORD,
    insert_responses,
    insert_user,
    log_in,
    new_session,
    synthetic_responses,
)

LOGIN_TOUCHES = ("app.login_lock(", "app.users", "app.record_login_failure(")
FIGURE_TYPES = {"metric", "vega_lite_chart", "dataframe", "download_button", "text"}


def element_types(at) -> set[str]:
    return {node.type for node in at.main} | {node.type for node in at.sidebar}


def shows_figures(at) -> bool:
    return bool(element_types(at) & FIGURE_TYPES)


def chart_titles(at) -> list[str]:
    return [s.value for s in at.subheader]


@pytest.fixture
def seeded(db, app_env):
    insert_user(db.engine, "alice")
    insert_responses(db.engine, synthetic_responses(300, last_day=date(2026, 11, 30), days=60))
    return db


def test_anonymous_session_gets_the_login_form_only_and_no_query(seeded, sql_log):
    sql_log.clear()
    at = new_session().run()
    assert not at.exception
    assert [w.key for w in at.text_input] == ["login_username", "login_password"]
    assert not shows_figures(at)
    assert len(at.sidebar) == 0  # no filters, no navigation
    assert sql_log == []  # not even a connection: nothing is read before a login attempt


def test_a_wrong_password_shows_an_error_and_reads_only_the_user(seeded, sql_log):
    at = new_session().run()
    sql_log.clear()
    log_in(at, "alice", "not-the-password")
    assert not at.exception
    assert "Wrong username or password" in at.error[0].value
    assert not shows_figures(at)
    assert sql_log and all("reporting." not in s for s in sql_log)
    selects = [s for s in sql_log if s.lstrip().upper().startswith("SELECT")]
    assert [next(t for t in LOGIN_TOUCHES if t in s) for s in selects] == [
        "app.login_lock(",  # locked? (before the password is looked at)
        "app.users",  # the one user
        "app.record_login_failure(",  # counted, in the shared login state
    ]
    assert at.text_input(key="login_password").value == ""  # not kept in the session


def test_the_right_password_shows_both_charts_and_the_kpis(seeded):
    at = log_in(new_session().run(), "Alice", PASSWORD)
    assert not at.exception
    assert [m.label.split(" ±")[0] for m in at.metric] == [
        "NPS",
        "Mean NPS score",
        "CSAT",
        "Mean CSAT",
        "Responses",
    ]
    assert at.metric[0].label.startswith("NPS ±")  # with its margin of error
    assert {"NPS per period", "CSAT per period"} <= set(chart_titles(at))
    assert len(at.get("vega_lite_chart")) >= 2
    assert "Alice Example" in at.sidebar.caption[0].value
    assert "login_password" not in [w.key for w in at.text_input]


def test_lockout_survives_a_new_session_and_holds_against_the_right_password(seeded, monkeypatch):
    monkeypatch.setenv("AUTH_MAX_ATTEMPTS", "3")
    first = new_session().run()
    for _ in range(3):
        log_in(first, "alice", "guess")
    assert "Too many failed attempts" in first.error[0].value

    second = new_session().run()  # another tab or browser: same dashboard process
    log_in(second, "ALICE", PASSWORD)
    assert "Too many failed attempts" in second.error[0].value
    assert not shows_figures(second)


def test_logout_returns_to_the_form_and_stays_logged_out(seeded):
    at = log_in(new_session().run(), "alice", PASSWORD)
    assert at.metric
    at.button(key="logout_button").click().run()
    assert not at.exception
    assert not shows_figures(at)
    assert at.text_input(key="login_username")
    assert "You are logged out" in at.info[0].value
    at.run()  # any later rerun of the same session
    assert not shows_figures(at)
    assert at.text_input(key="login_username")


@pytest.mark.parametrize("username", ["alice' OR '1'='1", "'; DROP TABLE app.users; --"])
def test_sql_injection_as_username_is_just_a_wrong_login(seeded, username):
    at = log_in(new_session().run(), username, "' OR '1'='1")
    assert not at.exception
    assert "Wrong username or password" in at.error[0].value
    assert not shows_figures(at)
    with seeded.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app.users")).scalar_one() == 1


def test_an_inactive_user_cannot_log_in(db, app_env):
    insert_user(db.engine, "bob", is_active=False)
    at = log_in(new_session().run(), "bob", PASSWORD)
    assert "Wrong username or password" in at.error[0].value


def test_database_down_at_login_tells_a_visitor_nothing_about_the_server(
    db, app_env, monkeypatch, capsys
):
    insert_user(db.engine, "alice")
    down = db.dashboard_url.set(host="127.0.0.1", port=5999)
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", down.render_as_string(hide_password=False))
    at = log_in(new_session().run(), "alice", PASSWORD)
    assert not at.exception
    message = at.error[0].value.replace("\\", "")  # as read on the page (Markdown escapes)
    assert "Cannot check your login right now" in message
    for detail in (
        "PostgreSQL",
        "5999",
        "127.0.0.1",
        db.dashboard_role,
        db.url.database,
        "psycopg",
    ):
        assert detail not in message, detail
    assert not shows_figures(at)
    logged = capsys.readouterr().out  # the operator's log has the details
    assert (
        "login_unavailable" in logged and "cannot reach PostgreSQL" in logged and "5999" in logged
    )
    assert db.dashboard_url.password not in logged


def test_a_database_without_the_schema_is_not_described_to_a_visitor(
    empty_database, app_env, monkeypatch, capsys
):
    monkeypatch.setenv(
        "DASHBOARD_DATABASE_URL", empty_database.url.render_as_string(hide_password=False)
    )
    at = log_in(new_session().run(), "alice", PASSWORD)
    assert not at.exception
    message = at.error[0].value.replace("\\", "")  # as read on the page (Markdown escapes)
    assert "Cannot check your login right now" in message
    assert empty_database.name not in message and "schema" not in message
    assert "no npscsat reporting schema yet" in capsys.readouterr().out


def test_a_disabled_user_is_signed_out_on_the_next_interaction(seeded, monkeypatch):
    monkeypatch.setenv("AUTH_SESSION_RECHECK_SECONDS", "0")
    at = log_in(new_session().run(), "alice", PASSWORD)
    assert shows_figures(at)
    users.set_active(seeded.engine, "alice", False)
    at.run()  # the next interaction
    assert not at.exception
    assert not shows_figures(at)
    assert "Your session has ended" in at.info[0].value
    assert at.text_input(key="login_username")


def test_a_signed_in_page_rechecks_its_session_only_every_few_seconds(seeded, sql_log):
    at = log_in(new_session().run(), "alice", PASSWORD)  # default: every 5 s
    sql_log.clear()
    at.run()
    assert not any("login_session_user" in s for s in sql_log)  # checked at login just now


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AUTH_COOKIE_KEY", "too-short", "AUTH_COOKIE_KEY must be at least 32 bytes"),
        ("AUTH_COOKIE_KEY", "changethis-" + "x" * 40, "AUTH_COOKIE_KEY looks like a placeholder"),
        ("DASHBOARD_DATABASE_URL", "", "DASHBOARD_DATABASE_URL"),
        ("DASHBOARD_MIN_SAMPLE", "zero", "DASHBOARD_MIN_SAMPLE"),
    ],
)
def test_bad_configuration_is_named_on_the_page_and_nothing_else_runs(
    db, app_env, monkeypatch, variable, value, expected
):
    monkeypatch.setenv(variable, value)
    at = new_session().run()
    assert not at.exception
    assert expected in at.error[0].value.replace("\\", "")
    assert not at.text_input  # not even a login form
