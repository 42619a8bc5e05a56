"""The sidebar filters: period, sources, channels, customer types and granularity.

`build_selection` (pure) turns widget values into a Selection or a message saying what to pick;
`render_filters` draws the widgets. Options and labels come from the database, never from code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from npscsat import sources as response_sources
from npscsat.reporting import (
    GRANULARITIES,
    DataStatus,
    Granularity,
    Option,
    ReportFilter,
    SourceOption,
)

DEFAULT_DAYS = 90
DEFAULT_GRANULARITY: Granularity = "week"
GRANULARITY_LABELS = {"day": "Day", "week": "ISO week", "month": "Month"}
# Widget keys (tests find the widgets by these).
DATES_KEY, SOURCES_KEY, CHANNELS_KEY, CUSTOMER_TYPES_KEY, GRANULARITY_KEY = (
    "filter_dates",
    "filter_sources",
    "filter_channels",
    "filter_customer_types",
    "filter_granularity",
)


@dataclass(frozen=True)
class Selection:
    start: date
    end: date
    channels: tuple[str, ...] | None  # None = all channels
    customer_types: tuple[str, ...] | None  # None = all customer types
    granularity: Granularity
    sources: tuple[str, ...] | None = None  # None = every source

    def report_filter(self) -> ReportFilter:
        return ReportFilter(self.start, self.end, self.channels, self.customer_types, self.sources)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shown_sources(self, offered: Sequence[SourceOption]) -> list[SourceOption]:
        """The offered sources this selection includes (all of them when it has no filter)."""
        if self.sources is None:
            return list(offered)
        return [o for o in offered if o.code in self.sources]

    def shows_demo_data(self, offered: Sequence[SourceOption]) -> bool:
        return any(o.is_demo for o in self.shown_sources(offered))


def default_sources(offered: Sequence[SourceOption]) -> list[str]:
    """Real responses when there are any (demo data and survey answers flagged as suspected
    bots stay out unless picked), else the demo data, so that a fresh `docker compose up` still
    shows figures."""
    real = [o.code for o in offered if response_sources.is_counted_by_default(o.code)]
    demo = [o.code for o in offered if o.is_demo]
    return real or demo or [o.code for o in offered]


def default_range(first_day: date, last_day: date, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The last `days` days that have data (fewer if the data is younger)."""
    return max(first_day, last_day - timedelta(days=days - 1)), last_day


def today_in(zone: str, now: datetime | None = None) -> date:
    """Today's business day, which is not the server's day near midnight."""
    moment = now or datetime.now(tz=ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo(zone)).date()


def chosen_codes(selected: Sequence[str], offered: Sequence[str]) -> tuple[str, ...] | None:
    """None when everything offered is selected (no filter), else the selected codes in the
    offered order; an empty tuple when nothing is selected."""
    chosen = set(selected)
    if chosen >= set(offered):
        return None
    return tuple(code for code in offered if code in chosen)


def date_range(value: object) -> tuple[date, date] | None:
    """The date input's value as (start, end): one picked day is a one-day range (the widget
    holds a single date while the end is being chosen); nothing picked is None."""
    if isinstance(value, date):
        return value, value
    days = [d for d in (value or ()) if isinstance(d, date)]
    if not days:
        return None
    return min(days), max(days)


def build_selection(
    dates: object,
    channels: Sequence[str],
    customer_types: Sequence[str],
    granularity: str | None,
    *,
    offered_channels: Sequence[str],
    offered_customer_types: Sequence[str],
    sources: Sequence[str] | None = None,
    offered_sources: Sequence[str] = (),
) -> Selection | str:
    """A valid selection, or a message saying what is missing. `sources` None: no source
    filter offered (every source)."""
    span = date_range(dates)
    if span is None:
        return "Pick a period in the sidebar to see figures."
    if sources is not None and not sources:
        return "No source selected: pick at least one source in the sidebar."
    if not channels:
        return "No channel selected: pick at least one channel in the sidebar."
    if not customer_types:
        return "No customer type selected: pick at least one customer type in the sidebar."
    return Selection(
        start=span[0],
        end=span[1],
        channels=chosen_codes(channels, offered_channels),
        customer_types=chosen_codes(customer_types, offered_customer_types),
        granularity=granularity if granularity in GRANULARITIES else DEFAULT_GRANULARITY,
        sources=None if sources is None else chosen_codes(sources, offered_sources),
    )


def render_filters(
    status: DataStatus,
    channels: Sequence[Option],
    customer_types: Sequence[Option],
    sources: Sequence[SourceOption] = (),
) -> Selection | str:
    """Draws the filters in the sidebar and returns the selection (or what to pick)."""
    first, last = status.first_day, status.last_day
    latest = max(last, today_in(status.business_timezone))
    # The default period: the latest days of the sources selected by default.
    defaults = [o for o in sources if o.code in default_sources(sources)]
    default_first = min((o.first_day for o in defaults), default=first)
    default_last = max((o.last_day for o in defaults), default=last)
    channel_labels = {o.code: o.label for o in channels}
    customer_labels = {o.code: o.label for o in customer_types}
    source_labels = {o.code: o.label for o in sources}
    with st.sidebar:
        st.header("Filters")
        picked_sources = st.multiselect(
            "Sources",
            options=list(source_labels),
            default=default_sources(sources),
            format_func=source_labels.__getitem__,
            key=SOURCES_KEY,
            help="Where the responses come from: your imports and survey answers, or the demo "
            "data written by a language model. Real responses are selected by default.",
        )
        dates = st.date_input(
            "Period",
            value=default_range(default_first, default_last),
            min_value=first,
            max_value=latest,
            key=DATES_KEY,
            help=f"Business days in {status.business_timezone}. Data from {first} to {last}.",
            format="YYYY-MM-DD",
        )
        granularity = st.segmented_control(
            "Group by",
            options=list(GRANULARITIES),
            default=DEFAULT_GRANULARITY,
            format_func=GRANULARITY_LABELS.__getitem__,
            required=True,
            key=GRANULARITY_KEY,
        )
        picked_channels = st.multiselect(
            "Channels",
            options=list(channel_labels),
            default=list(channel_labels),
            format_func=channel_labels.__getitem__,
            key=CHANNELS_KEY,
        )
        picked_types = st.multiselect(
            "Customer types",
            options=list(customer_labels),
            default=list(customer_labels),
            format_func=customer_labels.__getitem__,
            key=CUSTOMER_TYPES_KEY,
        )
    return build_selection(
        dates,
        picked_channels,
        picked_types,
        granularity,
        offered_channels=list(channel_labels),
        offered_customer_types=list(customer_labels),
        sources=picked_sources,
        offered_sources=list(source_labels),
    )
