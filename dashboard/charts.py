"""Altair charts of the figures: NPS and CSAT with 95 % bands, the promoter / passive /
detractor mix, response volume and the channel comparison.

Low-sample periods are drawn as grey diamonds with their own legend entry, never as solid
points. Colours are mid-tones that read on the light and the dark theme alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import altair as alt
import pandas as pd

from dashboard.figures import ChannelRow, PeriodRow
from npscsat.reporting import Granularity, ResponseRates

NPS_COLOUR = "#3B82F6"
CSAT_COLOUR = "#8B5CF6"
LOW_SAMPLE_COLOUR = "#9CA3AF"
MIX_COLOURS = {"Promoters": "#22A06B", "Passives": "#E2A33B", "Detractors": "#E5484D"}
CHART_HEIGHT = 260
_AXIS_FORMAT = {"day": "%b %d", "week": "%b %d", "month": "%b %Y"}


def sample_labels(min_sample: int) -> tuple[str, str]:
    return f"n ≥ {min_sample}", f"low sample (n < {min_sample})"


def period_frame(rows: Sequence[PeriodRow], min_sample: int) -> pd.DataFrame:
    """One row per period with every figure, ready for the charts."""
    solid, low = sample_labels(min_sample)
    records = []
    for row in rows:
        f = row.figures
        records.append(
            {
                "period_start": pd.Timestamp(row.period_start),
                "period": row.period_label,
                "responses": f.responses,
                "nps_responses": f.nps_responses,
                "nps": f.nps,
                "nps_low": f.nps_low,
                "nps_high": f.nps_high,
                "nps_margin": f.nps_margin,
                "mean_nps": f.mean_nps,
                "promoters": f.promoters,
                "passives": f.passives,
                "detractors": f.detractors,
                "promoter_pct": f.promoter_pct,
                "passive_pct": f.passive_pct,
                "detractor_pct": f.detractor_pct,
                "csat_responses": f.csat_responses,
                "csat": f.csat_pct,
                "csat_low": f.csat_low,
                "csat_high": f.csat_high,
                "mean_csat": f.mean_csat,
                "nps_sample": low if f.low_sample else solid,
                "csat_sample": low if f.csat_low_sample else solid,
                "responses_sample": low if f.responses_low_sample else solid,
            }
        )
    return pd.DataFrame.from_records(records)


def _x(granularity: Granularity) -> alt.X:
    return alt.X(
        "period_start:T",
        title=None,
        axis=alt.Axis(format=_AXIS_FORMAT[granularity], labelOverlap=True, grid=False),
    )


def _sample_encoding(field: str, colour: str, min_sample: int) -> dict:
    solid, low = sample_labels(min_sample)
    legend = alt.Legend(title=None, orient="bottom")
    return {
        "color": alt.Color(
            f"{field}:N",
            scale=alt.Scale(domain=[solid, low], range=[colour, LOW_SAMPLE_COLOUR]),
            legend=legend,
        ),
        "shape": alt.Shape(
            f"{field}:N",
            scale=alt.Scale(domain=[solid, low], range=["circle", "diamond"]),
            legend=legend,
        ),
    }


def _banded_line(
    frame: pd.DataFrame,
    *,
    granularity: Granularity,
    min_sample: int,
    value: str,
    low: str,
    high: str,
    sample: str,
    colour: str,
    title: str,
    tooltip: list[alt.Tooltip],
    baseline: float | None = None,
) -> alt.LayerChart:
    base = alt.Chart(frame).encode(x=_x(granularity))
    band = base.mark_area(opacity=0.18, color=colour).encode(
        y=alt.Y(f"{low}:Q", title=title, scale=alt.Scale(zero=False)),
        y2=f"{high}:Q",
        tooltip=tooltip,
    )
    line = base.mark_line(color=colour, strokeWidth=2).encode(y=f"{value}:Q")
    points = base.mark_point(size=70, filled=True, opacity=1).encode(
        y=f"{value}:Q", tooltip=tooltip, **_sample_encoding(sample, colour, min_sample)
    )
    layers = [band, line, points]
    if baseline is not None:
        rule = alt.Chart(pd.DataFrame({"y": [baseline]})).mark_rule(
            color=LOW_SAMPLE_COLOUR, strokeDash=[4, 4]
        )
        layers.insert(0, rule.encode(y="y:Q"))
    return alt.layer(*layers).properties(height=CHART_HEIGHT)


def nps_chart(frame: pd.DataFrame, granularity: Granularity, min_sample: int) -> alt.LayerChart:
    tooltip = [
        alt.Tooltip("period:N", title="Period"),
        alt.Tooltip("nps_responses:Q", title="n (NPS answers)", format=","),
        alt.Tooltip("nps:Q", title="NPS", format="+.1f"),
        alt.Tooltip("nps_margin:Q", title="± (95 %)", format=".1f"),
        alt.Tooltip("nps_low:Q", title="95 % low", format="+.1f"),
        alt.Tooltip("nps_high:Q", title="95 % high", format="+.1f"),
        alt.Tooltip("mean_nps:Q", title="Mean score (0-10)", format=".2f"),
        alt.Tooltip("nps_sample:N", title="Sample"),
    ]
    return _banded_line(
        frame,
        granularity=granularity,
        min_sample=min_sample,
        value="nps",
        low="nps_low",
        high="nps_high",
        sample="nps_sample",
        colour=NPS_COLOUR,
        title="NPS",
        tooltip=tooltip,
        baseline=0.0,
    )


def csat_chart(frame: pd.DataFrame, granularity: Granularity, min_sample: int) -> alt.LayerChart:
    tooltip = [
        alt.Tooltip("period:N", title="Period"),
        alt.Tooltip("csat_responses:Q", title="n (CSAT answers)", format=","),
        alt.Tooltip("csat:Q", title="CSAT %", format=".1f"),
        alt.Tooltip("csat_low:Q", title="95 % low (Wilson)", format=".1f"),
        alt.Tooltip("csat_high:Q", title="95 % high (Wilson)", format=".1f"),
        alt.Tooltip("mean_csat:Q", title="Mean score (1-5)", format=".2f"),
        alt.Tooltip("csat_sample:N", title="Sample"),
    ]
    return _banded_line(
        frame,
        granularity=granularity,
        min_sample=min_sample,
        value="csat",
        low="csat_low",
        high="csat_high",
        sample="csat_sample",
        colour=CSAT_COLOUR,
        title="CSAT % (4-5 of 5)",
        tooltip=tooltip,
    )


def mix_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Long format: one row per period and category, with its share and count."""
    parts = []
    for category, share, count in (
        ("Promoters", "promoter_pct", "promoters"),
        ("Passives", "passive_pct", "passives"),
        ("Detractors", "detractor_pct", "detractors"),
    ):
        part = frame[["period_start", "period", "nps_responses"]].copy()
        part["category"] = category
        part["share"] = frame[share]
        part["count"] = frame[count]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def mix_chart(frame: pd.DataFrame) -> alt.Chart:
    order = list(MIX_COLOURS)
    return (
        alt.Chart(mix_frame(frame))
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=None, sort=None, axis=alt.Axis(labelOverlap=True)),
            y=alt.Y(
                "share:Q",
                title="Share %",
                stack="zero",
                scale=alt.Scale(domain=[0, 100]),
            ),
            color=alt.Color(
                "category:N",
                scale=alt.Scale(domain=order, range=list(MIX_COLOURS.values())),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            order=alt.Order("category_order:Q"),
            tooltip=[
                alt.Tooltip("period:N", title="Period"),
                alt.Tooltip("category:N", title="Category"),
                alt.Tooltip("count:Q", title="Responses", format=","),
                alt.Tooltip("share:Q", title="Share %", format=".1f"),
                alt.Tooltip("nps_responses:Q", title="n (NPS answers)", format=","),
            ],
        )
        .transform_calculate(category_order=f"indexof({json.dumps(order)}, datum.category)")
        .properties(height=CHART_HEIGHT)
    )


def volume_chart(frame: pd.DataFrame, min_sample: int) -> alt.Chart:
    solid, low = sample_labels(min_sample)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=None, sort=None, axis=alt.Axis(labelOverlap=True)),
            y=alt.Y("responses:Q", title="Responses"),
            color=alt.Color(
                "responses_sample:N",
                scale=alt.Scale(domain=[solid, low], range=[NPS_COLOUR, LOW_SAMPLE_COLOUR]),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("period:N", title="Period"),
                alt.Tooltip("responses:Q", title="Responses", format=","),
                alt.Tooltip("nps_responses:Q", title="NPS answers", format=","),
                alt.Tooltip("csat_responses:Q", title="CSAT answers", format=","),
                alt.Tooltip("responses_sample:N", title="Sample"),
            ],
        )
        .properties(height=CHART_HEIGHT)
    )


def channel_frame(rows: Sequence[ChannelRow], min_sample: int) -> pd.DataFrame:
    solid, low = sample_labels(min_sample)
    return pd.DataFrame.from_records(
        [
            {
                "channel": row.label,
                "responses": row.figures.responses,
                "nps_responses": row.figures.nps_responses,
                "csat_responses": row.figures.csat_responses,
                "nps": row.figures.nps,
                "nps_low": row.figures.nps_low,
                "nps_high": row.figures.nps_high,
                "nps_margin": row.figures.nps_margin,
                "mean_nps": row.figures.mean_nps,
                "csat": row.figures.csat_pct,
                "csat_low": row.figures.csat_low,
                "csat_high": row.figures.csat_high,
                "mean_csat": row.figures.mean_csat,
                "nps_sample": low if row.figures.low_sample else solid,
            }
            for row in rows
        ]
    )


def channel_chart(frame: pd.DataFrame, min_sample: int) -> alt.LayerChart:
    """NPS per channel as a dot with its 95 % interval (a forest plot): overlapping intervals
    mean the difference between two channels may be noise. Channels in their display order."""
    order = list(frame["channel"])
    tooltip = [
        alt.Tooltip("channel:N", title="Channel"),
        alt.Tooltip("nps_responses:Q", title="n (NPS answers)", format=","),
        alt.Tooltip("nps:Q", title="NPS", format="+.1f"),
        alt.Tooltip("nps_margin:Q", title="± (95 %)", format=".1f"),
        alt.Tooltip("csat:Q", title="CSAT %", format=".1f"),
        alt.Tooltip("mean_nps:Q", title="Mean NPS score", format=".2f"),
        alt.Tooltip("mean_csat:Q", title="Mean CSAT score", format=".2f"),
        alt.Tooltip("nps_sample:N", title="Sample"),
    ]
    base = alt.Chart(frame).encode(
        y=alt.Y(
            "channel:N",
            title=None,
            sort=order,
            axis=alt.Axis(labelOverlap=False, labelLimit=220, grid=True),
        ),
        tooltip=tooltip,
    )
    interval = base.mark_rule(strokeWidth=3, color=LOW_SAMPLE_COLOUR).encode(
        x=alt.X(
            "nps_low:Q",
            title="NPS with its 95 % interval",
            scale=alt.Scale(zero=False, nice=True),
            axis=alt.Axis(tickCount=8),
        ),
        x2="nps_high:Q",
    )
    dots = base.mark_point(size=140, filled=True, opacity=1).encode(
        x="nps:Q", **_sample_encoding("nps_sample", NPS_COLOUR, min_sample)
    )
    return alt.layer(interval, dots).properties(height=90 + 44 * len(order))


def response_rate_frame(rates: ResponseRates) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {
                "period": period.period_label,
                "invited": period.rate.invited,
                "answered": period.rate.answered,
                "rate": period.rate.rate_pct,
            }
            for period in rates.series
        ],
        columns=["period", "invited", "answered", "rate"],
    )


def response_rate_chart(frame: pd.DataFrame) -> alt.Chart:
    """Answered / invited per period, by the day the invitations were sent."""
    return (
        alt.Chart(frame)
        .mark_line(point=True, color=NPS_COLOUR)
        .encode(
            x=alt.X("period:O", title=None, sort=None, axis=alt.Axis(labelOverlap=True)),
            y=alt.Y("rate:Q", title="Response rate (%)", scale=alt.Scale(domain=[0, 100])),
            tooltip=[
                alt.Tooltip("period:N", title="Period"),
                alt.Tooltip("rate:Q", title="Response rate (%)", format=".1f"),
                alt.Tooltip("answered:Q", title="Answered", format=","),
                alt.Tooltip("invited:Q", title="Invited", format=","),
            ],
        )
        .properties(height=CHART_HEIGHT)
    )
