"""Dockerfiles and compose files: linted, valid, secret-free, one-command demo, prod refuses."""

from __future__ import annotations

import json
import re

import pytest

from jobs.config import JobSettings
from npscsat.config import load_settings
from npscsat.errors import ConfigError
from survey.config import SurveySettings
from tests.infra.tools import REPO, clean_env, run, tool, tracked_files

DOCKERFILES = ["Dockerfile.job", "Dockerfile.dashboard", "Dockerfile.survey"]
COMPOSE_FILES = ["compose.yaml", "compose.override.yaml", "compose.gpu.yaml"]
SECRET_VARIABLES = {
    "POSTGRES_PASSWORD",
    "DATABASE_URL",
    "DASHBOARD_DATABASE_URL",
    "DASHBOARD_DB_PASSWORD",
    "DASHBOARD_ADMIN_PASSWORD",
    "AUTH_COOKIE_KEY",
    "SURVEY_DATABASE_URL",
    "SURVEY_DB_PASSWORD",
    "SURVEY_SIGNING_KEY",
}


def compose_config(*files: str, **env: str) -> dict:
    args = [tool("docker-compose")]
    for name in files:
        args += ["-f", str(REPO / name)]
    result = run(*args, "config", "--format", "json", env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def demo_values() -> set[str]:
    """Every literal secret-looking value in compose.override.yaml (the one demo place)."""
    text = (REPO / "compose.override.yaml").read_text()
    return set(re.findall(r"\bdemo[-\w]*", text)) - {"demo"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_has_nothing_to_say(dockerfile):
    result = run(tool("hadolint"), "--no-color", dockerfile)
    assert result.returncode == 0 and result.stdout == "", result.stdout


def test_compose_files_follow_the_compose_specification():
    result = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *COMPOSE_FILES
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "files",
    [
        ["compose.yaml"],
        ["compose.yaml", "compose.override.yaml"],
        ["compose.yaml", "compose.override.yaml", "compose.gpu.yaml"],
    ],
)
def test_compose_v2_accepts_the_stack(files):
    services = compose_config(*files)["services"]
    assert set(services) == {"db", "ollama", "job", "dashboard", "survey"}
    # The job pulls the model itself; the pull service is there to run by hand.
    assert services["job"]["environment"]["OLLAMA_PULL_MODEL"] == "true"
    assert set(compose_config(*files, COMPOSE_PROFILES="pull")["services"]) == {
        "db", "ollama", "ollama-pull", "job", "dashboard", "survey"
    }  # fmt: skip


def test_a_fresh_clone_starts_the_demo_without_a_dotenv():
    services = compose_config("compose.yaml", "compose.override.yaml")["services"]
    job, dashboard, db = (services[name]["environment"] for name in ("job", "dashboard", "db"))
    assert job["APP_ENV"] == dashboard["APP_ENV"] == "dev"
    password = db["POSTGRES_PASSWORD"]
    assert password and f":{password}@db:" in job["DATABASE_URL"]
    assert (
        job["DASHBOARD_DB_PASSWORD"]
        and f":{job['DASHBOARD_DB_PASSWORD']}@db:" in (dashboard["DASHBOARD_DATABASE_URL"])
    )
    assert job["DASHBOARD_ADMIN_USERNAME"] and job["DASHBOARD_ADMIN_PASSWORD"]
    assert len(dashboard["AUTH_COOKIE_KEY"].encode()) >= 32
    survey = services["survey"]["environment"]
    assert survey["APP_ENV"] == "dev"
    assert f":{job['SURVEY_DB_PASSWORD']}@db:" in survey["SURVEY_DATABASE_URL"]
    assert survey["SURVEY_DATABASE_URL"].startswith(f"postgresql://{job['SURVEY_DB_USER']}:")
    # The job's demo links are signed with the key the survey checks them with.
    assert job["SURVEY_SIGNING_KEY"] == survey["SURVEY_SIGNING_KEY"]
    assert len(survey["SURVEY_SIGNING_KEY"].encode()) >= 32
    assert job["SURVEY_DEMO_INVITATIONS"] == "true"
    assert job["SURVEY_PUBLIC_URL"] == survey["SURVEY_PUBLIC_URL"] == "http://localhost:8502"


def test_production_compose_carries_no_secret_and_defaults_to_prod():
    services = compose_config("compose.yaml")["services"]
    for name, service in services.items():
        environment = service.get("environment") or {}
        if name in ("job", "dashboard", "survey"):
            assert environment["APP_ENV"] == "prod"
        for variable, value in environment.items():
            if variable in SECRET_VARIABLES and not variable.endswith("_URL"):
                assert value == "", f"{name}.{variable} has a value in compose.yaml"
            if variable.endswith("_URL") and "@db:" in value:
                assert ":@db:" in value, f"{name}.{variable} embeds a password in compose.yaml"


def test_published_ports_are_variables_and_dev_ports_stay_local():
    compose = (REPO / "compose.yaml").read_text()
    override = (REPO / "compose.override.yaml").read_text()
    for text in (compose, override):
        for mapping in re.findall(r'-\s*"([^"]*:\d+)"', text):
            assert "${" in mapping, f"host port of {mapping} is not set by a variable"
    for mapping in re.findall(r'-\s*"([^"]*:\d+)"', override):
        assert mapping.startswith("127.0.0.1:"), mapping


def test_the_plain_http_dashboard_is_published_on_this_machine_only_unless_asked():
    for files in (["compose.yaml"], ["compose.yaml", "compose.override.yaml"]):
        dashboard = compose_config(*files)["services"]["dashboard"]
        assert [(p.get("host_ip"), p["published"]) for p in dashboard["ports"]] == [
            ("127.0.0.1", "8501")
        ]
    opened = compose_config("compose.yaml", DASHBOARD_BIND_ADDRESS="0.0.0.0")["services"]
    assert opened["dashboard"]["ports"][0]["host_ip"] == "0.0.0.0"
    survey = compose_config("compose.yaml")["services"]["survey"]
    assert [(p.get("host_ip"), p["published"], p["target"]) for p in survey["ports"]] == [
        ("127.0.0.1", "8502", 8502)
    ]
    moved = compose_config("compose.yaml", SURVEY_PORT="9502")["services"]["survey"]
    assert moved["ports"][0]["published"] == "9502"
    assert moved["environment"]["SURVEY_PUBLIC_URL"] == "http://localhost:9502"
    behind_tls = compose_config("compose.yaml", DASHBOARD_PUBLIC_URL="https://nps.example.org")
    for service in ("job", "dashboard"):  # the dashboard's cookie is then Secure
        environment = behind_tls["services"][service]["environment"]
        assert environment["DASHBOARD_PUBLIC_URL"] == "https://nps.example.org"


def test_demo_values_are_refused_in_production(monkeypatch):
    services = compose_config("compose.yaml", "compose.override.yaml")["services"]
    job = services["job"]["environment"]
    for variable in (
        "DATABASE_URL",
        "DASHBOARD_DB_PASSWORD",
        "DASHBOARD_ADMIN_PASSWORD",
        "SURVEY_DB_PASSWORD",
        "SURVEY_SIGNING_KEY",
    ):
        monkeypatch.setenv(variable, job[variable])
    for variable, value in job.items():
        if variable not in SECRET_VARIABLES:
            monkeypatch.setenv(variable, value)
    monkeypatch.setenv("APP_ENV", "dev")
    load_settings(JobSettings)  # accepted for development
    monkeypatch.setenv("APP_ENV", "prod")
    with pytest.raises(ConfigError, match="demo"):
        load_settings(JobSettings)
    survey = services["survey"]["environment"]
    for variable, value in survey.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("APP_ENV", "dev")
    load_settings(SurveySettings)
    monkeypatch.setenv("APP_ENV", "prod")
    with pytest.raises(ConfigError, match="SURVEY_DATABASE_URL password looks like a placeholder"):
        load_settings(SurveySettings)


def test_demo_values_appear_only_in_the_development_override():
    allowed = {"compose.override.yaml", "README.md"}
    values = demo_values()
    assert values, "compose.override.yaml should hold the demo values"
    for path in tracked_files():
        relative = str(path.relative_to(REPO))
        if relative in allowed or relative.startswith(("tests/", "docs/")) or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        found = [value for value in values if value in text]
        assert not found, f"{relative} contains demo values {found}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_images_bake_in_no_secret(dockerfile):
    text = (REPO / dockerfile).read_text()
    for line in text.splitlines():
        if re.match(r"\s*(ENV|ARG)\b", line):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|COOKIE|_KEY\b|DATABASE_URL", line), line
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".git" in ignored and "tests" in ignored


def test_images_are_multi_stage_non_root_and_run_the_documented_command():
    job = (REPO / "Dockerfile.job").read_text()
    dashboard = (REPO / "Dockerfile.dashboard").read_text()
    survey = (REPO / "Dockerfile.survey").read_text()
    for text in (job, dashboard, survey):
        assert text.count("\nFROM ") >= 3  # uv, builder, runtime
        assert "USER 10001:10001" in text
        assert "uv sync --locked" in text
        assert "PYTHONUNBUFFERED=1" in text
    assert 'CMD ["python", "-m", "jobs"]' in job
    assert 'CMD ["streamlit", "run", "dashboard/app.py"' in dashboard
    assert "HEALTHCHECK" in dashboard and "/_stcore/health" in dashboard
    assert "COPY dashboard/" not in job and "COPY jobs/" not in dashboard
    assert 'CMD ["python", "-m", "survey"]' in survey
    assert "HEALTHCHECK" in survey and "/healthz" in survey and "EXPOSE 8502" in survey
    assert "COPY jobs/" not in survey and "COPY dashboard/" not in survey


def locked_packages(group: str) -> set[str]:
    result = run(
        tool("uv") if (REPO / ".venv/bin/uv").exists() else "uv",
        "export", "--locked", "--no-default-groups", "--group", group,
        "--no-hashes", "--no-header", "--no-annotate",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {
        re.split(r"[=<>;\s]", line.strip())[0].lower()
        for line in result.stdout.splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }


def test_the_job_image_carries_no_pandas_pyarrow_or_streamlit():
    job = locked_packages("job")
    assert {"ollama", "tenacity", "structlog", "sqlmodel", "psycopg2-binary"} <= job
    assert not {"pandas", "pyarrow", "streamlit", "numpy", "altair"} & job


def test_the_survey_image_carries_its_web_stack_and_nothing_of_the_others():
    survey = locked_packages("survey")
    assert {"starlette", "jinja2", "uvicorn", "itsdangerous", "psycopg2-binary"} <= survey
    assert not {"pandas", "pyarrow", "streamlit", "ollama", "aiosmtpd", "pytest"} & survey


# Formats of real credentials; none may appear in a tracked file.
CREDENTIAL_PATTERNS = {
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "GitHub token": r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{40,}",
    "AWS access key": r"\bAKIA[0-9A-Z]{16}\b",
    "Slack token": r"\bxox[baprs]-[A-Za-z0-9-]{10,}",
    "OpenAI key": r"\bsk-[A-Za-z0-9]{32,}\b",
}


def test_no_real_credential_is_tracked():
    assert not (REPO / ".env").exists() or ".env" not in {
        str(p.relative_to(REPO)) for p in tracked_files()
    }
    for path in tracked_files():
        if not path.is_file() or path.suffix in {".png", ".lock"}:
            continue
        text = path.read_text(errors="ignore")
        for kind, pattern in CREDENTIAL_PATTERNS.items():
            assert not re.search(pattern, text), f"{kind} in {path.relative_to(REPO)}"
