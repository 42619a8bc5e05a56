"""The dashboard's settings, read once per run from the environment (see .env.example).

Every problem is reported as one ConfigError naming the variables at fault; the page shows it
instead of a traceback.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from npscsat.client_address import IPNetwork, parse_trusted_proxies
from npscsat.config import AppEnv, LogFormat, load_settings, secret_problem
from npscsat.db import parse_database_url, url_password_problem
from npscsat.errors import ConfigError
from npscsat.metrics import DEFAULT_MIN_SAMPLE

# The re-authentication cookie is an HS256 JWT: the key needs at least 256 bits.
MIN_COOKIE_KEY_BYTES = 32
COOKIE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Without a remember-me cookie a session still ends after this many hours.
SESSION_HOURS_WITHOUT_COOKIE = 12
MIN_SESSION_SECONDS = 60
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
    # Where people open the dashboard: an https URL makes the remember-me cookie Secure.
    dashboard_public_url: str = "http://localhost:8501"
    # Remember-me cookie; 0 days turns it off (every reload asks for the password). A login
    # session lasts as long as its cookie (SESSION_HOURS_WITHOUT_COOKIE when there is none).
    auth_cookie_name: str = "npscsat_auth"
    auth_cookie_expiry_days: float = Field(0.5, ge=0, le=30)
    # Failed-login throttle in the database, shared by every replica: per username and per
    # client address, within one window, then a lockout.
    auth_max_attempts: int = Field(5, ge=1, le=100)
    auth_max_attempts_per_address: int = Field(20, ge=1, le=10_000)
    auth_attempt_window_seconds: int = Field(900, ge=1, le=86_400)
    auth_lockout_seconds: int = Field(900, ge=1, le=86_400)
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses or networks).
    auth_trusted_proxies: str = ""
    # bcrypt checks in flight at once in this process (each costs ~0.2 s of CPU).
    auth_max_concurrent_checks: int = Field(2, ge=1, le=64)
    # How long a signed-in session trusts its last check (disabled user, logout elsewhere).
    auth_session_recheck_seconds: float = Field(5.0, ge=0, le=60)

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

    @field_validator("auth_trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        parse_trusted_proxies(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("dashboard_public_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        value = value.strip()
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError(f"'{value}' is not an http:// or https:// URL")
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

    @property
    def trusted_proxies(self) -> tuple[IPNetwork, ...]:
        return parse_trusted_proxies(self.auth_trusted_proxies)

    @property
    def cookie_secure(self) -> bool:
        """Secure cookies travel over https only: set whenever the public URL is https."""
        return urlsplit(self.dashboard_public_url).scheme == "https"

    @property
    def session_seconds(self) -> int:
        """How long a login lasts: the cookie's lifetime, or 12 hours when there is no cookie."""
        if self.auth_cookie_expiry_days == 0:
            return SESSION_HOURS_WITHOUT_COOKIE * 3600
        return max(MIN_SESSION_SECONDS, round(self.auth_cookie_expiry_days * 86_400))


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
