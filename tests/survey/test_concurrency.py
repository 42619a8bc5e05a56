"""Fifty simultaneous submissions for one invitation, sent to two survey processes on one
database (two replicas), end as one row; the database's lock on the invitation decides."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.survey.conftest import CSRF, answers, invite, serve_survey, survey_env

SUBMISSIONS = 50


@pytest.mark.slow
def test_fifty_simultaneous_submissions_for_one_invitation_end_as_one_row(db):
    invitation = invite(db.engine, "T-race")
    env = survey_env(db, SURVEY_RATE_LIMIT_PER_INVITATION="1000", SURVEY_MIN_SUBMIT_SECONDS="0")
    with serve_survey(env) as first, serve_survey(env) as second:
        from npscsat.survey_links import SurveyLinks

        links = SurveyLinks(env["SURVEY_SIGNING_KEY"], first, 30)
        path = links.link(invitation).removeprefix(first)
        with httpx.Client() as client:
            token = CSRF.search(client.get(first + path).text).group(1)
        start = threading.Barrier(SUBMISSIONS)

        def submit(index: int) -> int:
            base = first if index % 2 else second
            with httpx.Client(base_url=base, timeout=30) as client:
                start.wait()
                answer = client.post(
                    path,
                    data={
                        "csrf_token": token,
                        "nps_score": str(index % 11),
                        "csat_score": str(1 + index % 5),
                        "comment": f"submission {index}",
                    },
                )
                return answer.status_code

        with ThreadPoolExecutor(SUBMISSIONS) as pool:
            statuses = list(pool.map(submit, range(SUBMISSIONS)))
    assert statuses.count(303) + statuses.count(200) == SUBMISSIONS, statuses
    rows = answers(db.engine)
    assert len(rows) == 1
    (row,) = rows
    index = int(row.comment.removeprefix("submission "))
    assert (row.nps_score, row.csat_score) == (index % 11, 1 + index % 5)  # one whole answer
    with db.engine.connect() as conn:
        from sqlalchemy import text

        counted = conn.execute(
            text("SELECT sum(responses) FROM reporting.daily_rollup WHERE source = 'survey'")
        ).scalar_one()
        rate = conn.execute(
            text("SELECT sum(invited), sum(answered) FROM reporting.invitation_rollup")
        ).one()
    assert counted == 1 and tuple(rate) == (1, 1)
