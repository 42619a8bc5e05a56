"""Settings errors name the variable; secrets fit the environment."""

from __future__ import annotations

import pytest

from jobs.config import JobSettings
from npscsat.config import load_settings, secret_problem
from npscsat.db import parse_database_url
from npscsat.errors import ConfigError


@pytest.fixture
def env(monkeypatch):
    for name in ("DATABASE_URL", "APP_ENV", "DASHBOARD_DB_PASSWORD", "BUSINESS_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:Xq7vLm2pRt9wZ@db:5432/npscsat")
    return monkeypatch


def test_a_missing_variable_is_named(env):
    env.delenv("DATABASE_URL")
    with pytest.raises(ConfigError, match=r"^DATABASE_URL is not set \(see \.env\.example\)$"):
        load_settings(JobSettings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BUSINESS_TIMEZONE", "Mars/Olympus", "BUSINESS_TIMEZONE: unknown time zone"),
        ("APP_ENV", "staging", "APP_ENV: Input should be 'dev' or 'prod'"),
        ("DASHBOARD_DB_USER", "Robert'); DROP", "DASHBOARD_DB_USER: 'Robert'); DROP' is not"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL: 'chatty' is not one of"),
    ],
)
def test_an_invalid_value_is_named(env, variable, value, message):
    env.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(JobSettings)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    "password", ["changethis", "demo-dashboard-password", "short-pw", "my-example-secret-1"]
)
def test_production_refuses_placeholder_demo_and_short_secrets(env, password):
    env.setenv("DASHBOARD_DB_PASSWORD", password)
    with pytest.raises(ConfigError, match="DASHBOARD_DB_PASSWORD"):
        load_settings(JobSettings)
    env.setenv("APP_ENV", "dev")
    assert load_settings(JobSettings).dashboard_db_password.get_secret_value() == password


def test_production_accepts_a_real_secret_and_hides_it(env):
    env.setenv("DASHBOARD_DB_PASSWORD", "x7Hq2-LmVp9-RtW4z")
    settings = load_settings(JobSettings)
    assert "x7Hq2" not in repr(settings)


def test_secret_rules():
    assert secret_problem("", "dev") == "is empty"
    assert secret_problem("a", "dev") is None
    assert "placeholder or demo" in secret_problem("CHANGETHIS-please-123", "prod")
    assert "shorter than 12" in secret_problem("Zx8-kq", "prod")
    assert secret_problem("Zx8-kq-Zx8-kq", "prod") is None


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+psycopg2"),
        ("postgres://u:p@h/d", "postgresql+psycopg2"),
        ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2"),
    ],
)
def test_database_urls_people_write_are_accepted(url, driver):
    assert parse_database_url(url).drivername == driver


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "DATABASE_URL is not set"),
        ("mysql://u@h/d", "must be a PostgreSQL URL"),
        ("postgresql://u@h", "names no database"),
        ("not a url", "not a valid URL"),
    ],
)
def test_bad_database_urls_are_named(url, message):
    with pytest.raises(ConfigError, match=message):
        parse_database_url(url)


def test_production_refuses_a_demo_database_password(env):
    env.setenv("DATABASE_URL", "postgresql://npscsat:demo-db-password@db:5432/npscsat")
    with pytest.raises(ConfigError, match="DATABASE_URL password looks like a placeholder"):
        load_settings(JobSettings)


def test_an_empty_password_in_the_url_is_named(env):
    env.setenv("DATABASE_URL", "postgresql://npscsat:@db:5432/npscsat")
    with pytest.raises(ConfigError, match="DATABASE_URL has an empty password"):
        load_settings(JobSettings)
