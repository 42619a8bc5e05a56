"""Settings helpers shared by the job and the dashboard: readable errors and secret rules.

Each component declares its own pydantic-settings class; `load_settings` turns a validation
failure into one ConfigError that names the environment variables at fault.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from npscsat.errors import ConfigError

AppEnv = Literal["dev", "prod"]
LogFormat = Literal["auto", "json", "console"]

# Demo values (compose.override.yaml) and placeholders (.env.example) contain one of these;
# in production they are refused.
PLACEHOLDER_MARKERS = ("changethis", "changeme", "change-me", "placeholder", "example", "demo")
MIN_SECRET_LENGTH = 12

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(settings_class: type[SettingsT], **overrides) -> SettingsT:
    """Reads settings from the environment, or raises ConfigError naming each bad variable."""
    try:
        return settings_class(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across fields names its variables itself
            problems.append(message)
            continue
        variable = str(error["loc"][0]).upper()
        if error["type"] == "missing":
            problems.append(f"{variable} is not set (see .env.example)")
        else:
            problems.append(f"{variable}: {message}")
    return "; ".join(problems)


def secret_problem(value: str, app_env: AppEnv, min_length: int = MIN_SECRET_LENGTH) -> str | None:
    """Why a secret is unacceptable in this environment, or None. Development accepts anything
    non-empty (demo values live in compose.override.yaml); production refuses placeholders,
    demo values and short secrets."""
    if not value:
        return "is empty"
    if app_env != "prod":
        return None
    lowered = value.lower()
    for marker in PLACEHOLDER_MARKERS:
        if marker in lowered:
            return (
                f"looks like a placeholder or demo value (contains '{marker}'); "
                "set a real secret when APP_ENV=prod"
            )
    if len(value) < min_length:
        return f"is shorter than {min_length} characters; use a longer secret when APP_ENV=prod"
    return None
