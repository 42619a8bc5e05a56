"""`python -m survey` as a process: bad settings are named and stop it (exit 2); good ones
serve /healthz and pages with two workers on one port."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.survey.conftest import REPO, invite, serve_survey, survey_env


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"SURVEY_SIGNING_KEY": "short"}, "SURVEY_SIGNING_KEY must be at least 32 bytes (got 5)"),
        ({"SURVEY_SIGNING_KEY": "changethis-" * 4}, "looks like a placeholder"),
        ({"SURVEY_DATABASE_URL": ""}, "SURVEY_DATABASE_URL is not set"),
        ({"SURVEY_PORT": "http"}, "SURVEY_PORT"),
        ({"SURVEY_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"}, "'nonsense' is not an IP address"),
    ],
)
def test_bad_settings_are_named_and_the_service_does_not_start(db, overrides, problem):
    env = survey_env(db, **overrides)
    done = subprocess.run(
        [sys.executable, "-m", "survey"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    line = json.loads(done.stdout.splitlines()[-1])
    assert line["event"] == "survey_failed" and problem in line["error"], line
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_two_workers_share_one_port(db):
    invitation = invite(db.engine)
    with serve_survey(survey_env(db, SURVEY_WORKERS="2")) as url:
        from npscsat.survey_links import SurveyLinks
        from tests.survey.conftest import SIGNING_KEY

        link = SurveyLinks(SIGNING_KEY, url, 30).link(invitation, 5)
        with httpx.Client() as client:
            statuses = {client.get(link).status_code for _ in range(20)}
            health = client.get(f"{url}/healthz")
    assert statuses == {200} and health.text == "ok\n"
    assert "server" not in health.headers  # uvicorn's server header is off
