"""`.env.example` documents exactly the variables the project reads: each one the code or
compose reads is listed there, and each one listed there is read by something."""

from __future__ import annotations

import importlib
import inspect
import re

from pydantic_settings import BaseSettings

from tests.infra.tools import REPO

SETTINGS_MODULES = ["jobs.config", "dashboard.config", "survey.config"]
SOURCE_DIRS = ["jobs", "dashboard", "npscsat", "survey"]
COMPOSE_FILES = ["compose.yaml", "compose.override.yaml", "compose.gpu.yaml"]
# Read by Streamlit itself (set in the image / override), not configuration a person edits.
THIRD_PARTY_PREFIXES = ("STREAMLIT_",)

ENV_READ = re.compile(
    r"""os\.(?:environ(?:\.get)?\s*[\[(]|getenv\s*\()\s*["']([A-Z][A-Z0-9_]*)["']"""
)
COMPOSE_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
EXAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def settings_variables() -> set[str]:
    names = set()
    for module_name in SETTINGS_MODULES:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseSettings) and cls is not BaseSettings:
                prefix = cls.model_config.get("env_prefix", "")
                for name, field in cls.model_fields.items():
                    alias = (
                        field.validation_alias if isinstance(field.validation_alias, str) else None
                    )
                    names.add((alias or f"{prefix}{name}").upper())
    return names


def source_variables() -> set[str]:
    names = set()
    for directory in SOURCE_DIRS:
        for path in (REPO / directory).rglob("*.py"):
            names |= set(ENV_READ.findall(path.read_text()))
    return names


def compose_variables() -> set[str]:
    names = set()
    for name in COMPOSE_FILES:
        names |= set(COMPOSE_VARIABLE.findall((REPO / name).read_text()))
    return names


def documented_variables() -> set[str]:
    return set(EXAMPLE_LINE.findall((REPO / ".env.example").read_text()))


def read_variables() -> set[str]:
    every = settings_variables() | source_variables() | compose_variables()
    return {name for name in every if not name.startswith(THIRD_PARTY_PREFIXES)}


def test_every_variable_read_is_documented():
    missing = read_variables() - documented_variables()
    assert not missing, f"read but not in .env.example: {sorted(missing)}"


def test_every_documented_variable_is_read():
    unused = documented_variables() - read_variables()
    assert not unused, f"in .env.example but read by nothing: {sorted(unused)}"


def test_every_documented_variable_has_a_comment():
    """Each variable line sits under a comment (variables of one block may share it)."""
    lines = (REPO / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        match = EXAMPLE_LINE.match(line)
        if not match or line.startswith("#"):
            continue
        above = index - 1
        while above >= 0 and EXAMPLE_LINE.match(lines[above]) and not lines[above].startswith("#"):
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), f"{match.group(1)} has no comment"
