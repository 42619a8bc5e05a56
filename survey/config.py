"""The survey service's settings, read once from the environment (see .env.example).

Every problem is reported as one ConfigError naming the variables at fault; `python -m survey`
logs it and exits 2 instead of starting.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from npscsat.client_address import IPNetwork, parse_trusted_proxies
from npscsat.config import AppEnv, LogFormat, load_settings
from npscsat.db import parse_database_url, url_password_problem
from npscsat.errors import ConfigError
from npscsat.survey_links import SurveyLinks, public_url_problem, signing_key_problem

LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


class SurveySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # The survey's own role (SURVEY_DB_USER, created by the job's migrate): it can call the
    # survey's three functions and nothing else.
    survey_database_url: str
    # Signs the links (shared with the job's `invite`) and the forms' CSRF tokens.
    survey_signing_key: SecretStr
    app_env: AppEnv = "prod"
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    # Where customers open the survey: the links' base, and the origin a POST must come from.
    survey_public_url: str = "http://localhost:8502"
    survey_link_days: int = Field(30, ge=1, le=365)
    # How long after the first answer a person may still change it.
    survey_edit_hours: int = Field(24, ge=1, le=8760)
    survey_host: str = "0.0.0.0"  # noqa: S104 - a container's service listens on every interface
    survey_port: int = Field(8502, ge=1, le=65535)
    # Processes sharing the port (uvicorn workers); replicas scale further.
    survey_workers: int = Field(1, ge=1, le=32)
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses or networks).
    survey_trusted_proxies: str = ""
    # Answers (POSTs) per client address and per invitation within one window, kept in the
    # database so that every replica counts together.
    survey_rate_limit_per_address: int = Field(60, ge=1, le=1_000_000)
    survey_rate_limit_per_invitation: int = Field(10, ge=1, le=10_000)
    survey_rate_window_seconds: int = Field(600, ge=1, le=86_400)
    # An answer sent sooner than this after the page was shown is flagged as a suspected bot.
    survey_min_submit_seconds: float = Field(2.0, ge=0, le=60)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"'{value}' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("survey_public_url")
    @classmethod
    def _link_base(cls, value: str) -> str:
        if problem := public_url_problem(value):
            raise ValueError(problem)
        return value.strip().rstrip("/")

    @field_validator("survey_trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        parse_trusted_proxies(value)  # raises ValueError naming the bad entry
        return value

    @model_validator(mode="after")
    def _usable_together(self) -> SurveySettings:
        problems = []
        try:
            url = parse_database_url(self.survey_database_url, "SURVEY_DATABASE_URL")
        except ConfigError as exc:
            problems.append(str(exc))
        else:
            problem = url_password_problem(url, "SURVEY_DATABASE_URL", self.app_env)
            if problem:
                problems.append(problem)
        problem = signing_key_problem(self.survey_signing_key.get_secret_value(), self.app_env)
        if problem:
            problems.append(f"SURVEY_SIGNING_KEY {problem}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def database(self) -> URL:
        return parse_database_url(self.survey_database_url, "SURVEY_DATABASE_URL")

    @property
    def links(self) -> SurveyLinks:
        return SurveyLinks(
            self.survey_signing_key.get_secret_value(),
            self.survey_public_url,
            self.survey_link_days,
        )

    @property
    def trusted_proxies(self) -> tuple[IPNetwork, ...]:
        return parse_trusted_proxies(self.survey_trusted_proxies)

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.survey_public_url)
        return f"{parts.scheme}://{parts.netloc}"


def load_survey_settings() -> SurveySettings:
    return load_settings(SurveySettings)
