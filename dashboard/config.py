"""The dashboard's settings, read once per run from the environment (see .env.example).

Every problem is reported as one ConfigError naming the variables at fault; the page shows it
instead of a traceback.
"""

from __future__ import annotations

import os
import re

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from npscsat.config import AppEnv, LogFormat, load_settings, secret_problem
from npscsat.db import parse_database_url, url_password_problem
from npscsat.errors import ConfigError
from npscsat.metrics import DEFAULT_MIN_SAMPLE

# The re-authentication cookie is an HS256 JWT: the key needs at least 256 bits.
MIN_COOKIE_KEY_BYTES = 32
COOKIE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
# The zone comes from the database (set by the job from BUSINESS_TIMEZONE); a second setting
# here could disagree with the rollup's days, so it is ignored and the log says so.
IGNORED_VARIABLES = {
    "DASHBOARD_TIMEZONE": "ignored: periods and timestamps use the business time zone stored "
    "in the database (set by the job from BUSINESS_TIMEZONE)",
}


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    dashboard_database_url: str
    auth_cookie_key: SecretStr
    app_env: AppEnv = "prod"
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    # Periods with fewer responses are marked as low-sample in charts and KPI cards.
    dashboard_min_sample: int = Field(DEFAULT_MIN_SAMPLE, ge=1, le=1_000_000)
    # How many comments the comment list shows (detractors first).
    dashboard_comments_limit: int = Field(25, ge=1, le=500)
    # Remember-me cookie; 0 days turns it off (every reload asks for the password).
    auth_cookie_name: str = "npscsat_auth"
    auth_cookie_expiry_days: float = Field(1.0, ge=0, le=30)
    # Failed-login throttle, per username across every session of one dashboard process.
    auth_max_attempts: int = Field(5, ge=1, le=100)
    auth_attempt_window_seconds: int = Field(900, ge=1, le=86_400)
    auth_lockout_seconds: int = Field(900, ge=1, le=86_400)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"'{value}' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("auth_cookie_name")
    @classmethod
    def _plain_cookie_name(cls, value: str) -> str:
        if not COOKIE_NAME.match(value):
            raise ValueError("use 1-64 letters, digits, '_' or '-'")
        return value

    @model_validator(mode="after")
    def _usable_together(self) -> DashboardSettings:
        problems = []
        try:
            url = parse_database_url(self.dashboard_database_url, "DASHBOARD_DATABASE_URL")
        except ConfigError as exc:
            problems.append(str(exc))
        else:
            problem = url_password_problem(url, "DASHBOARD_DATABASE_URL", self.app_env)
            if problem:
                problems.append(problem)
        problem = cookie_key_problem(self.auth_cookie_key.get_secret_value(), self.app_env)
        if problem:
            problems.append(f"AUTH_COOKIE_KEY {problem}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def database(self) -> URL:
        """The read-only role's connection URL (validated above)."""
        return parse_database_url(self.dashboard_database_url, "DASHBOARD_DATABASE_URL")


def cookie_key_problem(value: str, app_env: AppEnv) -> str | None:
    """Why the cookie-signing key is unacceptable, or None. Every environment needs 32 bytes;
    production also refuses placeholders and demo values."""
    size = len(value.encode("utf-8"))
    if size < MIN_COOKIE_KEY_BYTES:
        return (
            f"must be at least {MIN_COOKIE_KEY_BYTES} bytes (got {size}); generate one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
        )
    return secret_problem(value, app_env, min_length=MIN_COOKIE_KEY_BYTES)


def load_dashboard_settings() -> DashboardSettings:
    """Settings from the environment, or ConfigError naming every variable at fault."""
    return load_settings(DashboardSettings)


def ignored_variables() -> dict[str, str]:
    """Variables that are set but have no effect, with the reason (logged at start)."""
    return {name: why for name, why in IGNORED_VARIABLES.items() if os.environ.get(name)}
