"""The home page: data status, filters, KPI cards, charts, channels, comments and CSV files.

Rendered only for a signed-in session (app.py builds the navigation after login). Every figure
comes from the cached rollup reads in dashboard.queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from dashboard import charts, queries
from dashboard.config import DashboardSettings
from dashboard.figures import (
    ChannelRow,
    Kpi,
    PeriodRow,
    Summary,
    channel_rows,
    period_rows,
    summarize,
    to_csv,
)
from dashboard.filters import Selection, render_filters
from dashboard.formatting import (
    escape_markdown,
    kpi_delta,
    kpi_label,
    kpi_value,
    local_timestamp,
    period_span,
)
from dashboard.job_status import show_job_status
from npscsat import sources as response_sources
from npscsat.errors import DatabaseUnavailable
from npscsat.reporting import Comment, JobRunStatus, SourceOption

SEARCH_KEY = "comment_search"
CATEGORY_LABELS = {"promoter": "Promoter", "passive": "Passive", "detractor": "Detractor"}
CATEGORY_COLOURS = {"promoter": "green", "passive": "orange", "detractor": "red"}
PERIOD_NOUNS = {"day": "day", "week": "ISO week", "month": "month"}


def render_home(settings: DashboardSettings) -> None:
    """Draws the page; database problems become a message with a retry, never a traceback."""
    try:
        _render(settings)
    except (DatabaseUnavailable, queries.DatabaseNotReady) as exc:
        show_database_problem(exc)


def show_database_problem(exc: Exception) -> None:
    if isinstance(exc, DatabaseUnavailable):
        st.error(f"**The database is unreachable.** {escape_markdown(str(exc))}")
        st.caption("Figures come back as soon as PostgreSQL answers again.")
    else:
        st.error(f"**The database is not ready.** {escape_markdown(str(exc))}")
    st.button(
        "Retry",
        key="retry_database",
        icon=":material/refresh:",
        type="primary",
        on_click=queries.forget_cached_data,
    )


def _render(settings: DashboardSettings) -> None:
    db = settings.dashboard_database_url
    lookups = queries.load_lookups(db)
    status, zone = lookups.status, lookups.status.business_timezone

    st.title("NPS & CSAT")
    st.caption(
        f"Periods in {escape_markdown(zone)} · data as of "
        f"{local_timestamp(status.updated_at, zone)} · {status.responses:,} responses in total"
    )
    with st.sidebar:
        st.button(
            "Refresh data",
            key="refresh_data",
            icon=":material/refresh:",
            on_click=queries.forget_cached_data,
            help="Figures are cached for a minute; this reads the database again now.",
        )
    run = show_job_status(db, zone)
    if status.responses == 0 or status.first_day is None:
        _show_no_data(run)
        return

    selection = render_filters(status, lookups.channels, lookups.customer_types, lookups.sources)
    if isinstance(selection, str):
        st.info(selection)
        return
    _show_demo_notice(selection, lookups.sources)
    overview = queries.load_overview(
        db,
        selection.start,
        selection.end,
        selection.channels,
        selection.customer_types,
        selection.sources,
        selection.granularity,
    )
    min_sample = settings.dashboard_min_sample
    rows = period_rows(overview.series, min_sample)
    summary = summarize(overview.totals, overview.previous, min_sample)

    _show_kpis(summary, rows, selection, min_sample)
    if overview.totals.responses == 0:
        st.info("No responses match this selection. Widen the period or pick more channels.")
        return
    _show_trends(rows, selection, min_sample)
    channels = channel_rows(overview.by_channel, min_sample)
    _show_channels(channels, min_sample)
    _show_response_rate(db, selection)
    _show_downloads(rows, channels, selection, lookups.sources)
    _show_comments(settings, selection, lookups, zone)


# --- status banners -------------------------------------------------------------------------


DEMO_NOTICE = (
    "**Demo data:** these figures include demo data written by a language model (source "
    "*generated*), not answers from real customers."
)


def _show_demo_notice(selection: Selection, sources: Sequence[SourceOption]) -> None:
    """Says so plainly whenever generated data is part of what the page shows."""
    if not selection.shows_demo_data(sources):
        return
    if any(not o.is_demo for o in sources):
        st.warning(
            DEMO_NOTICE + " Leave *Demo data (generated)* out of **Sources** in the sidebar to "
            "see real responses only."
        )
    else:
        st.warning(
            DEMO_NOTICE + " Load your own responses with `python -m jobs import FILE.csv` "
            "(see docs/importing.md); they are shown instead of the demo data from then on."
        )


def _show_no_data(run: JobRunStatus | None) -> None:
    if run is not None and (run.live or run.dead or run.status == "failed"):
        return  # the job's banner already says what is happening
    if run is not None and run.status == "interrupted":
        st.warning(
            "**No data yet.** The last run of the data job was stopped before loading any "
            "response; run it again, then press Refresh data."
        )
        return
    st.info(
        "**No data yet: the data job has not run.** Start it (`docker compose up job`, or "
        "`python -m jobs` with DATABASE_URL set); figures appear here as soon as responses are "
        "loaded. Press Refresh data afterwards."
    )


# --- KPI cards ------------------------------------------------------------------------------

_KPI_HELP = {
    "nps": "Net Promoter Score: % promoters (9-10) minus % detractors (0-6), from -100 to 100. "
    "± is the 95 % margin of error.",
    "mean_nps": "Average answer to 'how likely are you to recommend us?' (0-10).",
    "csat": "Share of CSAT answers scoring 4 or 5 of 5. ± is half the 95 % Wilson interval.",
    "mean_csat": "Average CSAT answer (1-5).",
    "responses": "Survey responses in the selection: each answers NPS, CSAT or both, so the "
    "NPS and CSAT figures each have their own n.",
}
_KPI_N = {  # the n each card's figure is computed on
    "nps": "nps_responses",
    "mean_nps": "nps_responses",
    "csat": "csat_responses",
    "mean_csat": "csat_responses",
}
_N_NOUNS = {"nps_responses": "NPS answers", "csat_responses": "CSAT answers"}


def _kpi_help(kpi: Kpi, selection: Selection, min_sample: int, summary: Summary) -> str:
    previous = selection.report_filter().previous_period()
    lines = [_KPI_HELP[kpi.key]]
    n_field = _KPI_N.get(kpi.key)
    if n_field is not None:
        lines.append(f"n = {getattr(summary, n_field):,} {_N_NOUNS[n_field]}.")
    if kpi.interval is not None:
        lines.append(f"95 % interval: {kpi.interval[0]:.1f} to {kpi.interval[1]:.1f}.")
    lines.append(
        "Change versus the previous period of equal length, "
        f"{period_span(previous.start, previous.end)}"
        + ("." if kpi.delta is not None else ": no responses then, so no comparison.")
    )
    if summary.low_sample:
        lines.append(f"Low sample: fewer than {min_sample} responses, treat as indicative.")
    return "\n\n".join(lines)


def _show_kpis(
    summary: Summary, rows: Sequence[PeriodRow], selection: Selection, min_sample: int
) -> None:
    st.caption(
        f"{period_span(selection.start, selection.end)} · per {PERIOD_NOUNS[selection.granularity]}"
    )
    if summary.low_sample:
        st.warning(
            f"Only {int(summary.responses.value or 0):,} responses in this selection (fewer "
            f"than {min_sample}): the figures below are indicative, not solid."
        )
    trend = {  # the sparkline of each card: its value per period
        "nps": [r.figures.nps for r in rows],
        "mean_nps": [r.figures.mean_nps for r in rows],
        "csat": [r.figures.csat_pct for r in rows],
        "mean_csat": [r.figures.mean_csat for r in rows],
        "responses": [r.figures.responses for r in rows],
    }
    kpis = (summary.nps, summary.mean_nps, summary.csat, summary.mean_csat, summary.responses)
    for column, kpi in zip(st.columns(len(kpis)), kpis, strict=True):
        spark = [v for v in trend[kpi.key] if v is not None]
        column.metric(
            kpi_label(kpi),
            kpi_value(kpi),
            delta=kpi_delta(kpi),
            delta_color="off" if kpi.key == "responses" else "normal",
            help=_kpi_help(kpi, selection, min_sample, summary),
            border=True,
            chart_data=spark if len(spark) > 1 else None,
        )
    st.caption(
        f"n: {summary.nps_responses:,} NPS answers · {summary.csat_responses:,} CSAT answers · "
        f"{int(summary.responses.value or 0):,} responses (a response may answer one question "
        "or both)."
    )


# --- charts ---------------------------------------------------------------------------------


def _show_trends(rows: Sequence[PeriodRow], selection: Selection, min_sample: int) -> None:
    frame = charts.period_frame(rows, min_sample)
    granularity = selection.granularity
    left, right = st.columns(2)
    with left:
        st.subheader("NPS per period")
        st.altair_chart(charts.nps_chart(frame, granularity, min_sample), width="stretch")
    with right:
        st.subheader("CSAT per period")
        st.altair_chart(charts.csat_chart(frame, granularity, min_sample), width="stretch")
    st.caption(
        f"Shaded: 95 % confidence band. Grey diamonds: periods with fewer than {min_sample} "
        "responses (low sample)."
    )
    left, right = st.columns(2)
    with left:
        st.subheader("Promoters, passives, detractors")
        st.altair_chart(charts.mix_chart(frame), width="stretch")
    with right:
        st.subheader("Response volume")
        st.altair_chart(charts.volume_chart(frame, min_sample), width="stretch")


def _show_channels(rows: Sequence[ChannelRow], min_sample: int) -> None:
    st.subheader("Channels compared")
    if not rows:
        st.caption("No channel has responses in this selection.")
        return
    frame = charts.channel_frame(rows, min_sample)
    st.altair_chart(charts.channel_chart(frame, min_sample), width="stretch")
    st.dataframe(
        frame[["channel", "responses", "nps", "nps_margin", "csat", "mean_nps", "mean_csat"]],
        hide_index=True,
        width="stretch",
        column_config={
            "channel": st.column_config.TextColumn("Channel"),
            "responses": st.column_config.NumberColumn("n", format="localized"),
            "nps": st.column_config.NumberColumn("NPS", format="%+.1f"),
            "nps_margin": st.column_config.NumberColumn("±", format="%.1f"),
            "csat": st.column_config.NumberColumn("CSAT %", format="%.1f"),
            "mean_nps": st.column_config.NumberColumn("Mean NPS", format="%.2f"),
            "mean_csat": st.column_config.NumberColumn("Mean CSAT", format="%.2f"),
        },
    )


def _show_response_rate(database_url: str, selection: Selection) -> None:
    """Answered / invited, what every survey tool reports beside its scores: shown when the
    survey's answers are part of the selection and invitations were sent in the period."""
    if selection.sources is not None and response_sources.SURVEY not in selection.sources:
        return
    rates = queries.load_response_rates(
        database_url,
        selection.start,
        selection.end,
        selection.channels,
        selection.customer_types,
        selection.granularity,
    )
    if rates.totals.invited == 0:
        return
    st.subheader("Survey response rate")
    total = rates.totals
    left, right = st.columns([1, 3])
    left.metric(
        "Response rate",
        f"{total.rate_pct:.1f} %",
        border=True,
        help="Survey invitations sent in the period (by the day they were sent) that were "
        "answered; answers flagged as suspected bots are not counted.",
    )
    left.caption(f"{total.answered:,} answered of {total.invited:,} invited.")
    with right:
        st.altair_chart(
            charts.response_rate_chart(charts.response_rate_frame(rates)), width="stretch"
        )
    st.dataframe(
        [
            {
                "Channel": channel.label,
                "Invited": channel.rate.invited,
                "Answered": channel.rate.answered,
                "Response rate %": channel.rate.rate_pct,
            }
            for channel in rates.by_channel
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "Response rate %": st.column_config.NumberColumn(format="%.1f"),
            "Invited": st.column_config.NumberColumn(format="localized"),
            "Answered": st.column_config.NumberColumn(format="localized"),
        },
    )


def export_stem(selection: Selection, sources: Sequence[str]) -> str:
    """The CSV files' name: the period and the sources they cover (demo data named as such)."""
    parts = [
        "demo" if code == response_sources.GENERATED else code.replace(":", "-") for code in sources
    ]
    return f"npscsat_{selection.start}_{selection.end}_{'+'.join(parts) or 'no-source'}"


def _show_downloads(
    rows: Sequence[PeriodRow],
    channels: Sequence[ChannelRow],
    selection: Selection,
    offered: Sequence[SourceOption],
) -> None:
    sources = [o.code for o in selection.shown_sources(offered)]
    stem = export_stem(selection, sources)
    left, right, _ = st.columns([1, 1, 2])
    left.download_button(
        f"Figures per {PERIOD_NOUNS[selection.granularity]} (CSV)",
        data=to_csv(rows, PeriodRow, sources),
        file_name=f"{stem}_per_{selection.granularity}.csv",
        mime="text/csv",
        key="download_periods",
        icon=":material/download:",
        on_click="ignore",
    )
    right.download_button(
        "Figures per channel (CSV)",
        data=to_csv(channels, ChannelRow, sources),
        file_name=f"{stem}_per_channel.csv",
        mime="text/csv",
        key="download_channels",
        icon=":material/download:",
        on_click="ignore",
    )
    st.caption(f"The files cover the sources: {escape_markdown(', '.join(sources))}.")


# --- comments -------------------------------------------------------------------------------


def _show_comments(
    settings: DashboardSettings, selection: Selection, lookups: queries.Lookups, zone: str
) -> None:
    st.subheader("What customers wrote")
    search = st.text_input(
        "Search comments",
        key=SEARCH_KEY,
        max_chars=100,
        placeholder="a word or phrase, e.g. refund",
    )
    comments = queries.load_comments(
        settings.dashboard_database_url,
        selection.start,
        selection.end,
        selection.channels,
        selection.customer_types,
        selection.sources,
        search.strip(),
        settings.dashboard_comments_limit,
    )
    if not comments:
        st.caption("No comment matches." if search.strip() else "No comments in this selection.")
        return
    st.caption(
        f"The latest {len(comments)} comments of the selection, detractors first"
        + (" (matching the search)." if search.strip() else ".")
    )
    labels = CommentLabels(
        channels={o.code: o.label for o in lookups.channels},
        customer_types={o.code: o.label for o in lookups.customer_types},
        sources={o.code: o.label for o in lookups.sources},
    )
    with st.container(height=560):
        for comment in comments:
            with st.container(border=True):
                st.markdown(_comment_heading(comment, labels, zone))
                st.text(comment.comment)  # plain text: no Markdown, no HTML


@dataclass(frozen=True)
class CommentLabels:
    channels: dict[str, str]
    customer_types: dict[str, str]
    sources: dict[str, str]


def _comment_heading(comment: Comment, labels: CommentLabels, zone: str) -> str:
    category = comment.nps_category
    parts = [
        (
            f":{CATEGORY_COLOURS[category]}-badge[{CATEGORY_LABELS[category]}]"
            if category in CATEGORY_LABELS
            else ":gray-badge[No NPS]"
        ),
        f"NPS **{comment.nps_score}**" if comment.nps_score is not None else "no NPS",
        f"CSAT **{comment.csat_score}**" if comment.csat_score is not None else "no CSAT",
        escape_markdown(labels.channels.get(comment.channel, comment.channel)),
        escape_markdown(labels.customer_types.get(comment.customer_type, comment.customer_type)),
        f"sentiment {escape_markdown(comment.sentiment)}" if comment.sentiment else "unclassified",
        local_timestamp(comment.responded_at, zone),
    ]
    if comment.source == response_sources.GENERATED:
        parts.insert(1, ":gray-badge[Demo data]")
    else:
        parts.append(escape_markdown(labels.sources.get(comment.source, comment.source)))
    return " · ".join(parts)
