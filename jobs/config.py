"""The job's settings, read once from the environment (see .env.example for each variable)."""

from __future__ import annotations

import re
from datetime import date
from email.utils import parseaddr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from jobs.mail import Mailer
from npscsat.config import AppEnv, LogFormat, secret_problem
from npscsat.db import parse_database_url, url_password_problem
from npscsat.errors import ConfigError
from npscsat.login import password_problem, username_problem
from npscsat.survey_links import SurveyLinks, public_url_problem, signing_key_problem

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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

    # The demo dashboard user, created or updated by the `users` step.
    dashboard_admin_username: str | None = None
    dashboard_admin_password: SecretStr | None = None
    dashboard_admin_display_name: str = Field(default="Administrator", min_length=1, max_length=100)
    dashboard_admin_email: str | None = None
    # Where people open the dashboard; the job's last log line points there.
    dashboard_public_url: str = "http://localhost:8501"

    # The survey's login role (created by `migrate` when a password is given), and what
    # `invite` needs: the key that signs links, where they point, how long they work.
    survey_db_user: str = "npscsat_survey"
    survey_db_password: SecretStr | None = None
    survey_signing_key: SecretStr | None = None
    survey_public_url: str = "http://localhost:8502"
    survey_link_days: int = Field(default=30, ge=1, le=365)
    # Development: `run` also creates a handful of demo invitations and logs one link.
    survey_demo_invitations: bool = False
    # Optional: `invite` e-mails each person with an address through this server (STARTTLS).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True

    # Ollama: the server, the model, and how long / how often to insist.
    ollama_host: str = "http://localhost:11434"
    ollama_model: str = "qwen2.5:0.5b"
    ollama_pull_model: bool = False
    ollama_timeout_seconds: float = Field(default=300.0, gt=0, le=3600)
    # A flaky server keeps the job going; one that gives nothing usable this long ends it.
    ollama_give_up_seconds: float = Field(default=300.0, gt=0, le=86400)
    # How long the model may take to appear on the server (a first download).
    ollama_model_wait_seconds: float = Field(default=3600.0, gt=0, le=86400)
    ollama_backoff_seconds: float = Field(default=1.0, ge=0, le=600)
    ollama_backoff_max_seconds: float = Field(default=30.0, ge=0, le=3600)

    # Generation: how many, how fast, over which days.
    job_target_responses: int = Field(default=1000, ge=0, le=10_000_000)
    job_batch_size: int = Field(default=10, ge=1, le=100)
    job_classify_batch_size: int = Field(default=20, ge=1, le=200)
    job_concurrency: int = Field(default=2, ge=1, le=32)
    job_max_asks_per_record: int = Field(default=8, ge=1, le=100)
    job_window_days: int = Field(default=180, ge=1, le=3660)
    # Default: yesterday in BUSINESS_TIMEZONE on the first run, then pinned in the database.
    job_window_end: date | None = None
    job_seed: int = Field(default=2024, ge=0, le=2**31 - 1)
    job_temperature: float = Field(default=0.8, ge=0, le=2)
    # Share of respondents who write a comment, per NPS category.
    job_comment_share_detractor: float = Field(default=0.70, ge=0, le=1)
    job_comment_share_passive: float = Field(default=0.35, ge=0, le=1)
    job_comment_share_promoter: float = Field(default=0.50, ge=0, le=1)

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

    @field_validator("dashboard_db_user", "survey_db_user")
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

    @field_validator(
        "dashboard_admin_username", "dashboard_admin_email", "smtp_host", "smtp_user", "smtp_from"
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @field_validator("dashboard_admin_username")
    @classmethod
    def _valid_username(cls, value: str | None) -> str | None:
        if value is not None and (problem := username_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("dashboard_admin_email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.match(value):
            raise ValueError(f"'{value}' is not an e-mail address")
        return value

    @field_validator("ollama_host", "ollama_model", "dashboard_public_url")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty")
        return value.strip()

    @field_validator("survey_public_url")
    @classmethod
    def _link_base(cls, value: str) -> str:
        if problem := public_url_problem(value):
            raise ValueError(problem)
        return value.strip().rstrip("/")

    @field_validator("smtp_from")
    @classmethod
    def _sender_address(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.match(parseaddr(value)[1]):
            raise ValueError(f"'{value}' is not an e-mail address (or Name <address>)")
        return value

    @model_validator(mode="after")
    def _secrets_fit_environment(self) -> JobSettings:
        try:
            problem = url_password_problem(self.database(), "DATABASE_URL", self.app_env)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if problem:
            raise ValueError(problem)
        if self.dashboard_db_password is not None:
            problem = secret_problem(self.dashboard_db_password.get_secret_value(), self.app_env)
            if problem:
                raise ValueError(f"DASHBOARD_DB_PASSWORD {problem}")
        admin_password = self.dashboard_admin_password
        if admin_password is not None and not admin_password.get_secret_value():
            admin_password = self.dashboard_admin_password = None
        if self.dashboard_admin_username and admin_password is None:
            raise ValueError(
                "DASHBOARD_ADMIN_PASSWORD is not set; it is required when "
                "DASHBOARD_ADMIN_USERNAME is set (see .env.example)"
            )
        if admin_password is not None:
            if not self.dashboard_admin_username:
                raise ValueError(
                    "DASHBOARD_ADMIN_USERNAME is not set; it is required when "
                    "DASHBOARD_ADMIN_PASSWORD is set (see .env.example)"
                )
            problem = password_problem(admin_password.get_secret_value(), self.app_env)
            if problem:
                raise ValueError(f"DASHBOARD_ADMIN_PASSWORD {problem}")
        for name, secret in (
            ("SURVEY_DB_PASSWORD", self.survey_db_password),
            ("SMTP_PASSWORD", self.smtp_password),
        ):
            if secret is not None and (
                problem := secret_problem(secret.get_secret_value(), self.app_env)
            ):
                raise ValueError(f"{name} {problem}")
        if self.survey_signing_key is not None:
            problem = signing_key_problem(self.survey_signing_key.get_secret_value(), self.app_env)
            if problem:
                raise ValueError(f"SURVEY_SIGNING_KEY {problem}")
        if self.survey_demo_invitations and self.survey_signing_key is None:
            raise ValueError(
                "SURVEY_DEMO_INVITATIONS needs SURVEY_SIGNING_KEY (the survey's key) to sign "
                "the demo links"
            )
        if self.smtp_host and not self.smtp_from:
            raise ValueError("SMTP_FROM is not set; it is required when SMTP_HOST is set")
        if (
            self.smtp_host
            and not self.smtp_starttls
            and self.app_env == "prod"
            and self.smtp_host not in ("localhost", "127.0.0.1", "::1")
        ):
            raise ValueError(
                "SMTP_STARTTLS=false sends the links in clear text; in production it is "
                "accepted only for a relay on this machine (SMTP_HOST=localhost)"
            )
        if bool(self.smtp_user) != (self.smtp_password is not None):
            raise ValueError("SMTP_USER and SMTP_PASSWORD go together: set both or neither")
        if self.ollama_backoff_max_seconds < self.ollama_backoff_seconds:
            raise ValueError(
                "OLLAMA_BACKOFF_MAX_SECONDS must be at least OLLAMA_BACKOFF_SECONDS "
                f"({self.ollama_backoff_max_seconds} < {self.ollama_backoff_seconds})"
            )
        return self

    def comment_shares(self) -> dict[str, float]:
        return {
            "detractor": self.job_comment_share_detractor,
            "passive": self.job_comment_share_passive,
            "promoter": self.job_comment_share_promoter,
        }

    def database(self) -> URL:
        """The owner connection (schema changes, loads). Raises ConfigError when malformed."""
        return parse_database_url(self.database_url, "DATABASE_URL")

    def survey_links(self) -> SurveyLinks:
        """What `invite` signs links with; ConfigError when SURVEY_SIGNING_KEY is missing."""
        if self.survey_signing_key is None:
            raise ConfigError(
                "SURVEY_SIGNING_KEY is not set; `invite` signs the survey links with it, and "
                "the survey service must have the same key (see .env.example)"
            )
        return SurveyLinks(
            self.survey_signing_key.get_secret_value(),
            self.survey_public_url,
            self.survey_link_days,
        )

    def mailer(self) -> Mailer | None:
        """The SMTP server `invite` sends through, or None when SMTP_HOST is not set."""
        if not self.smtp_host:
            return None
        return Mailer(
            host=self.smtp_host,
            port=self.smtp_port,
            sender=self.smtp_from or "",
            user=self.smtp_user,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            starttls=self.smtp_starttls,
        )
