"""The dashboard refuses bad configuration with a message naming each variable."""

from __future__ import annotations

import pytest

from dashboard.config import cookie_key_problem, ignored_variables, load_dashboard_settings
from npscsat.errors import ConfigError

STRONG_KEY = "k3Y-" + "x9Qw" * 10  # 44 bytes, no placeholder word
GOOD_URL = "postgresql://npscsat_dashboard:Xq7-long-enough-pw@db:5432/npscsat"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "DASHBOARD_DATABASE_URL",
        "AUTH_COOKIE_KEY",
        "APP_ENV",
        "DASHBOARD_MIN_SAMPLE",
        "AUTH_MAX_ATTEMPTS",
        "AUTH_COOKIE_NAME",
        "AUTH_COOKIE_EXPIRY_DAYS",
        "DASHBOARD_TIMEZONE",
        "LOG_LEVEL",
        "DASHBOARD_PUBLIC_URL",
        "AUTH_TRUSTED_PROXIES",
        "AUTH_MAX_ATTEMPTS_PER_ADDRESS",
        "AUTH_MAX_CONCURRENT_CHECKS",
        "AUTH_SESSION_RECHECK_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_good_settings_and_defaults(monkeypatch):
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", GOOD_URL)
    monkeypatch.setenv("AUTH_COOKIE_KEY", STRONG_KEY)
    settings = load_dashboard_settings()
    assert settings.app_env == "prod"  # secure by default
    assert settings.dashboard_min_sample == 30
    assert settings.auth_max_attempts == 5
    assert settings.database().drivername == "postgresql+psycopg2"


def test_a_login_lasts_twelve_hours_and_its_cookie_is_secure_behind_https(monkeypatch):
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", GOOD_URL)
    monkeypatch.setenv("AUTH_COOKIE_KEY", STRONG_KEY)
    settings = load_dashboard_settings()
    assert settings.auth_cookie_expiry_days == 0.5  # was a day
    assert settings.session_seconds == 12 * 3600
    assert settings.cookie_secure is False  # http://localhost:8501
    monkeypatch.setenv("DASHBOARD_PUBLIC_URL", "https://nps.example.org")
    assert load_dashboard_settings().cookie_secure is True
    monkeypatch.setenv("AUTH_COOKIE_EXPIRY_DAYS", "0")  # no cookie: a login still ends
    assert load_dashboard_settings().session_seconds == 12 * 3600


def test_trusted_proxies_are_parsed_and_bad_entries_named(monkeypatch):
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", GOOD_URL)
    monkeypatch.setenv("AUTH_COOKIE_KEY", STRONG_KEY)
    monkeypatch.setenv("AUTH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")
    assert [str(n) for n in load_dashboard_settings().trusted_proxies] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "2001:db8::/32",
    ]
    monkeypatch.setenv("AUTH_TRUSTED_PROXIES", "10.0.0.0/8,my-proxy")
    with pytest.raises(ConfigError, match="AUTH_TRUSTED_PROXIES: 'my-proxy' is not an IP"):
        load_dashboard_settings()
    monkeypatch.setenv("AUTH_TRUSTED_PROXIES", "")
    monkeypatch.setenv("DASHBOARD_PUBLIC_URL", "nps.example.org")
    with pytest.raises(ConfigError, match=r"DASHBOARD_PUBLIC_URL: 'nps\.example\.org' is not an"):
        load_dashboard_settings()


def test_missing_variables_are_named():
    with pytest.raises(ConfigError) as error:
        load_dashboard_settings()
    assert "DASHBOARD_DATABASE_URL is not set" in str(error.value)
    assert "AUTH_COOKIE_KEY is not set" in str(error.value)


@pytest.mark.parametrize("app_env", ["dev", "prod"])
def test_a_short_cookie_key_is_refused_everywhere(monkeypatch, app_env):
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", GOOD_URL)
    monkeypatch.setenv("AUTH_COOKIE_KEY", "x" * 31)
    monkeypatch.setenv("APP_ENV", app_env)
    with pytest.raises(ConfigError, match=r"AUTH_COOKIE_KEY must be at least 32 bytes \(got 31\)"):
        load_dashboard_settings()


def test_placeholder_cookie_key_is_refused_in_prod_only(monkeypatch):
    placeholder = "changethis-to-a-random-string-of-at-least-32-bytes"
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", GOOD_URL)
    monkeypatch.setenv("AUTH_COOKIE_KEY", placeholder)
    with pytest.raises(ConfigError, match="AUTH_COOKIE_KEY looks like a placeholder"):
        load_dashboard_settings()
    monkeypatch.setenv("APP_ENV", "dev")
    assert load_dashboard_settings().auth_cookie_key.get_secret_value() == placeholder


def test_the_env_example_placeholder_is_refused_in_prod():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / ".env.example"
    values = dict(
        line.split("=", 1)
        for line in example.read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    assert cookie_key_problem(values["AUTH_COOKIE_KEY"], "prod") is not None
    assert cookie_key_problem(values["AUTH_COOKIE_KEY"], "dev") is None  # long enough


def test_a_placeholder_database_password_is_refused_in_prod_only(monkeypatch):
    monkeypatch.setenv(
        "DASHBOARD_DATABASE_URL", "postgresql://npscsat_dashboard:changethis@db:5432/npscsat"
    )
    monkeypatch.setenv("AUTH_COOKIE_KEY", STRONG_KEY)
    with pytest.raises(ConfigError, match="DASHBOARD_DATABASE_URL password looks like a placeh"):
        load_dashboard_settings()
    monkeypatch.setenv("APP_ENV", "dev")
    assert load_dashboard_settings().database().password == "changethis"


def test_key_length_counts_bytes_not_characters():
    assert cookie_key_problem("é" * 16, "dev") is None  # 16 characters, 32 bytes
    assert "at least 32 bytes" in cookie_key_problem("é" * 15, "dev")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DASHBOARD_DATABASE_URL", "mysql://u:p@h/db", "DASHBOARD_DATABASE_URL must be a Postgre"),
        ("DASHBOARD_DATABASE_URL", "postgresql://u:p@h:5432", "names no database"),
        ("DASHBOARD_MIN_SAMPLE", "0", "DASHBOARD_MIN_SAMPLE: Input should be greater than"),
        ("DASHBOARD_MIN_SAMPLE", "many", "DASHBOARD_MIN_SAMPLE: Input should be a valid integer"),
        ("AUTH_MAX_ATTEMPTS", "-1", "AUTH_MAX_ATTEMPTS"),
        ("AUTH_COOKIE_NAME", "a b;c", "AUTH_COOKIE_NAME: use 1-64 letters"),
        ("AUTH_COOKIE_EXPIRY_DAYS", "365", "AUTH_COOKIE_EXPIRY_DAYS"),
        ("APP_ENV", "staging", "APP_ENV"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
    ],
)
def test_bad_values_are_named(monkeypatch, variable, value, expected):
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", GOOD_URL)
    monkeypatch.setenv("AUTH_COOKIE_KEY", STRONG_KEY)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=expected):
        load_dashboard_settings()


def test_error_messages_never_contain_the_secrets(monkeypatch):
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", "mysql://u:topsecretpw@h/db")
    monkeypatch.setenv("AUTH_COOKIE_KEY", "short-secret-key")
    with pytest.raises(ConfigError) as error:
        load_dashboard_settings()
    assert "topsecretpw" not in str(error.value)
    assert "short-secret-key" not in str(error.value)


def test_a_second_time_zone_setting_is_reported_as_ignored(monkeypatch):
    assert ignored_variables() == {}
    monkeypatch.setenv("DASHBOARD_TIMEZONE", "Europe/Paris")
    assert "BUSINESS_TIMEZONE" in ignored_variables()["DASHBOARD_TIMEZONE"]
