"""The job's settings, read once from the environment (see .env.example for each variable)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from npscsat.config import AppEnv, LogFormat, secret_problem
from npscsat.db import parse_database_url

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str
    app_env: AppEnv = "prod"
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    # Days, weeks and months of the reporting layer are cut in this zone.
    business_timezone: str = "UTC"
    # The dashboard's read-only login role; created by `migrate` when a password is given.
    dashboard_db_user: str = "npscsat_dashboard"
    dashboard_db_password: SecretStr | None = None

    @field_validator("business_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}'; use an IANA name such as UTC or America/Sao_Paulo"
            ) from None
        return value

    @field_validator("dashboard_db_user")
    @classmethod
    def _plain_role_name(cls, value: str) -> str:
        if not ROLE_NAME.match(value):
            raise ValueError(
                f"'{value}' is not a plain PostgreSQL role name (lowercase letters, digits, _)"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"'{value}' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @model_validator(mode="after")
    def _secrets_fit_environment(self) -> JobSettings:
        if self.dashboard_db_password is not None:
            problem = secret_problem(self.dashboard_db_password.get_secret_value(), self.app_env)
            if problem:
                raise ValueError(f"DASHBOARD_DB_PASSWORD {problem}")
        return self

    def database(self) -> URL:
        """The owner connection (schema changes, loads). Raises ConfigError when malformed."""
        return parse_database_url(self.database_url, "DATABASE_URL")
