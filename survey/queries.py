"""The survey's database calls: three functions of db/init/007_survey.sql, nothing else.

The survey's role can read no table and write no table; it calls
`app.survey_invitation_state` (what the page shows), `app.survey_count_request` (the rate
limits every replica shares) and `app.survey_record_answer` (one answer per invitation).
A GET makes one call, a POST two (on one pooled connection). Plain functions of an engine:
the pages run them in a thread pool.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from npscsat.db import create_db_engine, describe_url
from npscsat.errors import DatabaseUnavailable
from survey.config import SurveySettings

_STATE_SQL = text(
    "SELECT locale, expired, answered_at, editable, nps_score, csat_score, comment "
    "FROM app.survey_invitation_state(:invitation, :edit_hours)"
)
_COUNT_SQL = text(
    "SELECT limited_by, retry_after_seconds FROM app.survey_count_request("
    ":address, :invitation, :per_address, :per_invitation, :window)"
)
_RECORD_SQL = text(
    "SELECT outcome, answered_at FROM app.survey_record_answer("
    ":invitation, :nps, :csat, :comment, :score_only, :suspected_bot, :edit_hours)"
)


@dataclass(frozen=True)
class InvitationState:
    locale: str | None
    expired: bool
    answered_at: datetime | None
    editable: bool
    nps_score: int | None
    csat_score: int | None
    comment: str | None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None


@dataclass(frozen=True)
class RateLimit:
    limited_by: str  # address or invitation
    retry_after_seconds: float


@dataclass(frozen=True)
class Answer:
    nps_score: int | None
    csat_score: int | None
    comment: str | None
    score_only: bool = False  # the page's own POST of the score clicked in the e-mail
    suspected_bot: bool = False


@dataclass(frozen=True)
class Recorded:
    outcome: str  # recorded, updated, already_answered, closed, expired, unknown
    answered_at: datetime | None


def create_engine_for(settings: SurveySettings) -> Engine:
    """One pool per process. Statement and lock timeouts are settings of the survey's role."""
    return create_db_engine(
        settings.database(),
        application_name="npscsat-survey",
        pool_size=10,
        max_overflow=10,
        pool_timeout=10,
        pool_recycle=1800,
    )


def _unavailable(engine: Engine, exc: OperationalError) -> DatabaseUnavailable:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return DatabaseUnavailable(f"cannot reach PostgreSQL at {describe_url(engine.url)}: {reason}")


def check_database(engine: Engine) -> None:
    """What GET /healthz asks: can this process reach the database as its role?"""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise _unavailable(engine, exc) from None


def invitation_state(engine: Engine, invitation: uuid.UUID, edit_hours: int) -> InvitationState:
    """The invitation's state, or None when no invitation has this id."""
    try:
        with engine.connect() as conn:
            row = (
                conn.execute(_STATE_SQL, {"invitation": invitation, "edit_hours": edit_hours})
                .mappings()
                .one_or_none()
            )
    except OperationalError as exc:
        raise _unavailable(engine, exc) from None
    return None if row is None else InvitationState(**row)


@dataclass(frozen=True)
class Submission:
    """What became of a POST: refused by a rate limit, recorded (or not: its outcome), or
    invalid, with the invitation's state to show the form again."""

    limit: RateLimit | None = None
    recorded: Recorded | None = None
    state: InvitationState | None = None


def submit(
    engine: Engine,
    address: str | None,
    invitation: uuid.UUID,
    answer: Answer | None,
    settings: SurveySettings,
) -> Submission:
    """A POST's database work on one pooled connection: the rate-limit count (its own short
    transaction, not waiting for the disk), then the answer's (durable) transaction; for an
    invalid answer (None) the invitation's state instead, to show the form again."""
    try:
        with engine.connect() as conn:
            with conn.begin():
                conn.execute(text("SET LOCAL synchronous_commit = off"))
                limited_by, retry_after = conn.execute(
                    _COUNT_SQL,
                    {
                        "address": address,
                        "invitation": invitation,
                        "per_address": settings.survey_rate_limit_per_address,
                        "per_invitation": settings.survey_rate_limit_per_invitation,
                        "window": settings.survey_rate_window_seconds,
                    },
                ).one()
            if limited_by is not None:
                return Submission(limit=RateLimit(limited_by, max(1.0, retry_after)))
            with conn.begin():
                if answer is None:
                    row = (
                        conn.execute(
                            _STATE_SQL,
                            {"invitation": invitation, "edit_hours": settings.survey_edit_hours},
                        )
                        .mappings()
                        .one_or_none()
                    )
                    return Submission(state=None if row is None else InvitationState(**row))
                outcome, answered_at = conn.execute(
                    _RECORD_SQL,
                    {
                        "invitation": invitation,
                        "nps": answer.nps_score,
                        "csat": answer.csat_score,
                        "comment": answer.comment,
                        "score_only": answer.score_only,
                        "suspected_bot": answer.suspected_bot,
                        "edit_hours": settings.survey_edit_hours,
                    },
                ).one()
    except OperationalError as exc:
        raise _unavailable(engine, exc) from None
    return Submission(recorded=Recorded(outcome, answered_at))
