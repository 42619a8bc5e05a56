"""What the data job is doing, above the figures: downloading the model, generating n / target
with the time left, labelling, done; or that its last run died or failed.

While a run is alive the banner refreshes itself every few seconds (a Streamlit fragment, so
only the banner reruns), and when the run ends the whole page reruns once with fresh figures.
A run is alive while its process holds the run's lock (reporting.job_status.alive): a run that
crashed or was killed shows as stopped, not as "running" forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import queries
from dashboard.formatting import escape_markdown, local_timestamp
from npscsat.errors import DatabaseUnavailable
from npscsat.reporting import JobRunStatus

REFRESH_EVERY = timedelta(seconds=5)
DONE_SHOWN_FOR = timedelta(minutes=15)  # "done" stays up this long after a run succeeded


def show_job_status(database_url: str, zone: str) -> JobRunStatus | None:
    """Draws the banner for the latest run and returns that run (None: the job never ran)."""
    run = queries.load_job_status(database_url)
    if run is not None and run.live:
        _live_banner(database_url, zone)
    else:
        _banner(run, zone)
    return run


@st.fragment(run_every=REFRESH_EVERY)
def _live_banner(database_url: str, zone: str) -> None:
    try:
        run = queries.load_job_status(database_url)
    except (DatabaseUnavailable, queries.DatabaseNotReady):
        # A rerun of the fragment alone: the page's own handler is not around it.
        st.caption("Lost the database for a moment; trying again in a few seconds.")
        return
    _banner(run, zone)
    if run is None or not run.live:
        queries.forget_cached_data()  # the run ended: the figures changed
        st.rerun()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return "under a minute" if seconds < 45 else "about a minute"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


def describe(run: JobRunStatus, now: datetime | None = None) -> str:
    """The banner text of a live run."""
    now = now or datetime.now(UTC)
    model = f"`{escape_markdown(run.model)}`" if run.model else "the model"
    if run.phase == "waiting_for_model":
        waited = _duration((now - run.started_at).total_seconds())
        detail = run.phase_detail or ""
        progress = f" ({escape_markdown(detail)})" if detail.endswith("%") else ""
        return (
            f"**Downloading the model** {model}{progress}, waiting {waited} so far. The first "
            "start downloads it once; generating the demo responses starts right after."
        )
    if run.phase == "generating" and run.target:
        left = f", {_duration(run.eta_seconds)} left" if run.eta_seconds is not None else ""
        return (
            f"**Generating demo responses with {model}:** {run.written:,} / {run.target:,}"
            f"{left}. Figures grow as they load; press Refresh data to see them."
        )
    if run.phase == "classifying":
        what = f" ({escape_markdown(run.phase_detail)})" if run.phase_detail else ""
        return f"**Labelling the sentiment of comments**{what} with {model}."
    if run.phase == "refreshing":
        return "**Checking the reporting tables** against the responses; almost done."
    return "**The data job is starting.**"


def _banner(run: JobRunStatus | None, zone: str) -> None:
    if run is None:
        return  # the "no data yet" message says how to start the job
    if run.live:
        st.info(describe(run), icon=":material/hourglass_top:")
        if run.phase == "generating" and run.target:
            st.progress(min(1.0, run.written / run.target))
        return
    if run.dead:
        st.warning(
            f"**The last run of the data job stopped without finishing** at {run.written:,} / "
            f"{run.target or 0:,} responses (last seen {local_timestamp(run.updated_at, zone)}"
            "): it crashed or was stopped. Start it again (`docker compose up job`, or "
            "`python -m jobs`); it resumes where it stopped."
        )
        return
    if run.status == "failed":
        reason = (run.detail or "see its log").splitlines()[0][:300]
        st.warning(
            f"**The last run of the data job failed** "
            f"({local_timestamp(run.finished_at or run.updated_at, zone)}): "
            f"{escape_markdown(reason)}"
        )
        return
    finished = run.finished_at or run.updated_at
    if run.status == "succeeded" and datetime.now(UTC) - finished < DONE_SHOWN_FOR:
        st.success(
            f"**Demo data ready:** {run.written:,} responses "
            f"(finished {local_timestamp(finished, zone)}).",
            icon=":material/check_circle:",
        )
