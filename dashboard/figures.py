"""The numbers behind the KPI cards, the charts and the CSV files, shaped from reporting totals.

Pure functions only (no Streamlit, no database), so every figure the page shows is testable.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date

from npscsat.metrics import Totals, change, is_low_sample
from npscsat.reporting import ChannelTotals, PeriodTotals


@dataclass(frozen=True)
class Figures:
    """Every metric of one group of responses (a period, a channel or the whole selection).
    Each metric has its own n: `nps_responses` for the NPS ones, `csat_responses` for CSAT."""

    responses: int
    nps_responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    nps_margin: float | None
    nps_low: float | None
    nps_high: float | None
    mean_nps: float | None
    promoter_pct: float | None
    passive_pct: float | None
    detractor_pct: float | None
    csat_responses: int
    csat_pct: float | None
    csat_low: float | None
    csat_high: float | None
    mean_csat: float | None
    low_sample: bool  # fewer NPS answers than the minimum sample
    csat_low_sample: bool  # fewer CSAT answers than the minimum sample
    responses_low_sample: bool  # fewer responses (of any kind) than the minimum sample


@dataclass(frozen=True)
class PeriodRow:
    period_start: date
    period_label: str
    figures: Figures


@dataclass(frozen=True)
class ChannelRow:
    channel: str
    label: str
    figures: Figures


def _share(part: int, whole: int) -> float | None:
    return None if whole <= 0 else 100.0 * part / whole


def figures_of(totals: Totals, min_sample: int) -> Figures:
    margin = totals.nps_margin
    score = totals.nps
    if score is None or margin is None:
        nps_low = nps_high = None
    else:  # the band never leaves the scale
        nps_low, nps_high = max(-100.0, score - margin), min(100.0, score + margin)
    interval = totals.csat_interval
    nps_n = totals.nps_count
    return Figures(
        responses=totals.responses,
        nps_responses=nps_n,
        promoters=totals.promoters,
        passives=totals.passives,
        detractors=totals.detractors,
        nps=score,
        nps_margin=margin,
        nps_low=nps_low,
        nps_high=nps_high,
        mean_nps=totals.mean_nps,
        promoter_pct=_share(totals.promoters, nps_n),
        passive_pct=_share(totals.passives, nps_n),
        detractor_pct=_share(totals.detractors, nps_n),
        csat_responses=totals.csat_count,
        csat_pct=totals.csat_pct,
        csat_low=None if interval is None else interval[0],
        csat_high=None if interval is None else interval[1],
        mean_csat=totals.mean_csat,
        low_sample=is_low_sample(nps_n, min_sample),
        csat_low_sample=is_low_sample(totals.csat_count, min_sample),
        responses_low_sample=is_low_sample(totals.responses, min_sample),
    )


def period_rows(series: Sequence[PeriodTotals], min_sample: int) -> list[PeriodRow]:
    return [
        PeriodRow(p.period_start, p.period_label, figures_of(p.totals, min_sample)) for p in series
    ]


def channel_rows(by_channel: Sequence[ChannelTotals], min_sample: int) -> list[ChannelRow]:
    return [ChannelRow(c.channel, c.label, figures_of(c.totals, min_sample)) for c in by_channel]


# --- KPI cards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    key: str
    value: float | None
    previous: float | None
    margin: float | None = None  # the "±" shown beside the value (same unit)
    interval: tuple[float, float] | None = None  # the 95 % interval behind the margin

    @property
    def delta(self) -> float | None:
        return change(self.value, self.previous)


@dataclass(frozen=True)
class Summary:
    """The KPI cards of a selection against the previous period of equal length."""

    nps: Kpi
    mean_nps: Kpi
    csat: Kpi
    mean_csat: Kpi
    responses: Kpi
    low_sample: bool  # fewer responses than the minimum sample
    nps_responses: int
    csat_responses: int


def summarize(current: Totals, previous: Totals, min_sample: int) -> Summary:
    now = figures_of(current, min_sample)
    nps_interval = None if now.nps_low is None else (now.nps_low, now.nps_high)
    csat_interval = None if now.csat_low is None else (now.csat_low, now.csat_high)
    # Wilson intervals are asymmetric; the card shows half their width as the "±".
    csat_margin = None if csat_interval is None else (csat_interval[1] - csat_interval[0]) / 2
    return Summary(
        nps=Kpi("nps", now.nps, previous.nps, now.nps_margin, nps_interval),
        mean_nps=Kpi("mean_nps", now.mean_nps, previous.mean_nps),
        csat=Kpi("csat", now.csat_pct, previous.csat_pct, csat_margin, csat_interval),
        mean_csat=Kpi("mean_csat", now.mean_csat, previous.mean_csat),
        responses=Kpi(
            "responses",
            float(current.responses),
            # No previous data means "no comparison", not "grew from zero".
            float(previous.responses) if previous.responses else None,
        ),
        low_sample=now.responses_low_sample,
        nps_responses=now.nps_responses,
        csat_responses=now.csat_responses,
    )


# --- CSV ------------------------------------------------------------------------------------

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


SOURCES_COLUMN = "sources"


def _columns(row_type: type[PeriodRow] | type[ChannelRow]) -> list[str]:
    own = [f.name for f in fields(row_type) if f.name != "figures"]
    return [SOURCES_COLUMN, *own] + [f.name for f in fields(Figures)]


def _flat(row: PeriodRow | ChannelRow) -> dict[str, object]:
    own = {f.name: getattr(row, f.name) for f in fields(row) if f.name != "figures"}
    return own | asdict(row.figures)


def to_csv(
    rows: Sequence[PeriodRow] | Sequence[ChannelRow],
    row_type: type[PeriodRow] | type[ChannelRow],
    sources: Sequence[str],
) -> str:
    """A header, then one line per row with every figure as a column; undefined metrics are
    empty cells. The first column names the sources the figures cover ("generated" is the
    demo data), so a file passed on cannot be mistaken for another. An empty selection still
    gives a valid file (the header alone)."""
    covered = _csv_cell(" ".join(sources))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(row_type), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells = {name: _csv_cell(value) for name, value in _flat(row).items()}
        writer.writerow({SOURCES_COLUMN: covered, **cells})
    return buffer.getvalue()
