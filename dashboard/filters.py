"""The sidebar filters: period, channels, customer types and granularity.

`build_selection` (pure) turns widget values into a Selection or a message saying what to pick;
`render_filters` draws the widgets. Options and labels come from the database, never from code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from npscsat.reporting import GRANULARITIES, DataStatus, Granularity, Option, ReportFilter

DEFAULT_DAYS = 90
DEFAULT_GRANULARITY: Granularity = "week"
GRANULARITY_LABELS = {"day": "Day", "week": "ISO week", "month": "Month"}
# Widget keys (tests find the widgets by these).
DATES_KEY, CHANNELS_KEY, CUSTOMER_TYPES_KEY, GRANULARITY_KEY = (
    "filter_dates",
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

    def report_filter(self) -> ReportFilter:
        return ReportFilter(self.start, self.end, self.channels, self.customer_types)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


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
) -> Selection | str:
    """A valid selection, or a message saying what is missing."""
    span = date_range(dates)
    if span is None:
        return "Pick a period in the sidebar to see figures."
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
    )


def render_filters(
    status: DataStatus, channels: Sequence[Option], customer_types: Sequence[Option]
) -> Selection | str:
    """Draws the filters in the sidebar and returns the selection (or what to pick)."""
    first, last = status.first_day, status.last_day
    latest = max(last, today_in(status.business_timezone))
    channel_labels = {o.code: o.label for o in channels}
    customer_labels = {o.code: o.label for o in customer_types}
    with st.sidebar:
        st.header("Filters")
        dates = st.date_input(
            "Period",
            value=default_range(first, last),
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
    )
