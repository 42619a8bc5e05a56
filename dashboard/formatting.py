"""How numbers, dates and untrusted text are written on the page. Pure functions."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dashboard.figures import Kpi

MISSING = "—"


def _signed(value: float, decimals: int) -> str:
    # An ASCII sign: st.metric colours a delta red when its text starts with "-".
    return f"{value:+,.{decimals}f}"


KPI_NAMES = {
    "nps": "NPS",
    "mean_nps": "Mean NPS score",
    "csat": "CSAT",
    "mean_csat": "Mean CSAT",
    "responses": "Responses",
}


def kpi_label(kpi: Kpi) -> str:
    """The card's title, with the 95 % margin of error where the metric has one (the big
    number alone fits a narrow card)."""
    name = KPI_NAMES[kpi.key]
    return name if kpi.margin is None else f"{name} ±{kpi.margin:.1f}"


def kpi_value(kpi: Kpi) -> str:
    """The big number of a KPI card."""
    if kpi.value is None:
        return MISSING
    if kpi.key == "nps":
        return _signed(kpi.value, 1)
    if kpi.key == "csat":
        return f"{kpi.value:.1f}%"
    if kpi.key == "responses":
        return f"{int(kpi.value):,}"
    return f"{kpi.value:.2f}"  # mean scores


def kpi_delta(kpi: Kpi) -> str | None:
    """The change versus the previous period, or None when there is nothing to compare."""
    delta = kpi.delta
    if delta is None:
        return None
    if kpi.key in ("nps", "csat"):
        return f"{_signed(delta, 1)} pts"
    if kpi.key == "responses":
        pct = f" ({_signed(100.0 * delta / kpi.previous, 1)}%)" if kpi.previous else ""
        return f"{_signed(delta, 0)}{pct}"
    return _signed(delta, 2)


def period_span(start: date, end: date) -> str:
    days = (end - start).days + 1
    return f"{start.isoformat()} - {end.isoformat()} ({days} day{'s' if days != 1 else ''})"


def local_timestamp(moment: datetime | None, zone: str) -> str:
    """A timestamp in the business time zone, to the minute."""
    if moment is None:
        return MISSING
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def escape_markdown(text: str) -> str:
    """Text that Streamlit's Markdown shows literally: every ASCII punctuation that Markdown or
    HTML could act on is backslash-escaped (CommonMark allows escaping any of them)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
