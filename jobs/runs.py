"""Bookkeeping of a run in app.job_run, and the lock that lets one run at a time write data.

`written` counts the filled generator slots (this run's rows plus those already there), so the
dashboard's "generation is running: written / target" is the data set's real progress even for a
run that resumes a killed one. `dropped` and `retries` count this run's work.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import structlog
from sqlalchemy import Engine, func, text, update
from sqlmodel import Session

from jobs.errors import AnotherRunActive
from npscsat.models import JobRun

log = structlog.get_logger("jobs.runs")
# pg_advisory_lock key; migrate.py uses 7_311_026. reporting.job_status looks for it in
# pg_locks to tell a live run from a dead one (db/init/004_job_progress.sql).
DATA_LOCK_KEY = 7_311_027
DETAIL_MAX_CHARS = 2000
PHASE_DETAIL_MAX_CHARS = 500  # the CHECK of app.job_run.phase_detail


@contextlib.contextmanager
def data_lock(engine: Engine) -> Iterator[None]:
    """Held for a whole run on its own connection. PostgreSQL releases it when that connection
    ends, also when the process is killed, so a run marked 'running' without the lock held is a
    run that died: it is marked 'interrupted'."""
    conn = engine.connect()
    try:
        got_it = conn.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": DATA_LOCK_KEY}
        ).scalar_one()
        conn.commit()
        if not got_it:
            running = conn.execute(
                text(
                    "SELECT run_id, started_at FROM app.job_run WHERE status = 'running' "
                    "ORDER BY started_at DESC LIMIT 1"
                )
            ).first()
            conn.rollback()
            which = (
                f" (run {running.run_id}, started {running.started_at:%Y-%m-%d %H:%M:%S %Z})"
                if running
                else ""
            )
            raise AnotherRunActive(
                f"another job run is writing to this database{which}; wait for it to finish, "
                "or stop it, then start this one again"
            )
        stale = (
            conn.execute(
                update(JobRun)
                .where(JobRun.status == "running")
                .values(
                    status="interrupted",
                    finished_at=func.now(),
                    updated_at=func.now(),
                    detail=func.coalesce(
                        JobRun.detail, "the process ended without reporting (killed?)"
                    ),
                )
                .returning(JobRun.run_id)
            )
            .scalars()
            .all()
        )
        conn.commit()
        for run_id in stale:
            log.warning("stale_run_marked_interrupted", stale_run_id=str(run_id))
        yield
    finally:
        with contextlib.suppress(Exception):  # the connection may be the thing that broke
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": DATA_LOCK_KEY})
            conn.commit()
        conn.close()


class RunRecorder:
    """The app.job_run row of this run (the JobRun model)."""

    def __init__(self, engine: Engine, run_id: uuid.UUID) -> None:
        self.engine = engine
        self.run_id = run_id

    def start(self, *, target: int, filled: int, model: str) -> None:
        with Session(self.engine) as session:
            session.add(JobRun(run_id=self.run_id, target=target, written=filled, model=model))
            session.commit()

    def _update(self, **values) -> None:
        with Session(self.engine) as session:
            session.execute(update(JobRun).where(JobRun.run_id == self.run_id).values(**values))
            session.commit()

    def phase(self, phase: str, *, detail: str | None = None, eta_s: float | None = None) -> None:
        """What the run does now, for the dashboard. Never raises: a status line must not end
        the run (the next update, or the final status, catches up)."""
        try:
            self._update(
                phase=phase,
                phase_detail=detail[:PHASE_DETAIL_MAX_CHARS] if detail else None,
                eta_seconds=None if eta_s is None else max(0, round(eta_s)),
                updated_at=func.now(),
            )
        except Exception as exc:
            log.warning("job_run_phase_not_recorded", phase=phase, error=str(exc).splitlines()[0])

    def finish(self, status: str, *, dropped: int, retries: int, detail: str | None = None) -> None:
        """Final status; never raises, so it cannot hide the error that ended the run."""
        try:
            self._update(
                status=status,
                finished_at=func.now(),
                updated_at=func.now(),
                dropped=dropped,
                retries=retries,
                detail=detail[:DETAIL_MAX_CHARS] if detail else None,
            )
        except Exception as exc:  # reporting must not mask the real outcome
            log.error("job_run_not_recorded", status=status, error=str(exc).splitlines()[0])
