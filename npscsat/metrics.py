"""NPS and CSAT arithmetic, defined once (see BRIEF: metric definitions).

Pure functions on counts, so the dashboard, the tests and the benchmarks share one
implementation. Every function answers None when there is nothing to measure (n = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

Z_95 = 1.96  # two-sided 95 % normal quantile, as in the brief's formulas
DEFAULT_MIN_SAMPLE = 30


def nps(promoters: int, detractors: int, n: int) -> float | None:
    """Net Promoter Score, -100..100: 100 * (promoters - detractors) / n."""
    if n <= 0:
        return None
    return 100.0 * (promoters - detractors) / n


def nps_margin(promoters: int, detractors: int, n: int, z: float = Z_95) -> float | None:
    """95 % margin of error of the NPS in points: z * 100 * sqrt((p + d - (p - d)^2) / n)."""
    if n <= 0:
        return None
    p, d = promoters / n, detractors / n
    variance = max(p + d - (p - d) ** 2, 0.0)  # clamp float noise just below zero
    return z * 100.0 * math.sqrt(variance / n)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion, as fractions 0..1 (good at small n and at 0 / 1)."""
    if n <= 0:
        return None
    phat = successes / n
    denominator = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def csat_pct(satisfied: int, n: int) -> float | None:
    """CSAT, 0..100: the share of CSAT answers scoring 4 or 5."""
    if n <= 0:
        return None
    return 100.0 * satisfied / n


def mean(total: float, n: int) -> float | None:
    """Average of n values summing to total."""
    if n <= 0:
        return None
    return total / n


def change(current: float | None, previous: float | None) -> float | None:
    """Difference to the previous period (points for NPS / CSAT %); None if either is missing."""
    if current is None or previous is None:
        return None
    return current - previous


def is_low_sample(n: int, min_sample: int = DEFAULT_MIN_SAMPLE) -> bool:
    """Periods under the minimum sample are marked, never shown as solid."""
    return n < min_sample


@dataclass(frozen=True)
class Totals:
    """Counts and sums of a set of responses, as stored in the rollup; metrics derive from it.
    Each metric has its own n: NPS ones the NPS answers, CSAT ones the CSAT answers."""

    responses: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    nps_sum: int = 0
    csat_count: int = 0
    csat_sum: int = 0
    csat_satisfied: int = 0
    sentiment_positive: int = 0
    sentiment_neutral: int = 0
    sentiment_negative: int = 0

    @classmethod
    def from_mapping(cls, row) -> Totals:
        """Builds Totals from a result row / dict, treating NULL sums (no rows) as zero."""
        return cls(**{f.name: int(row[f.name] or 0) for f in fields(cls)})

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def nps_count(self) -> int:
        """NPS answers: a response may answer CSAT alone, so this can be below `responses`."""
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> float | None:
        return nps(self.promoters, self.detractors, self.nps_count)

    @property
    def nps_margin(self) -> float | None:
        return nps_margin(self.promoters, self.detractors, self.nps_count)

    @property
    def mean_nps(self) -> float | None:
        return mean(self.nps_sum, self.nps_count)

    @property
    def csat_pct(self) -> float | None:
        return csat_pct(self.csat_satisfied, self.csat_count)

    @property
    def csat_interval(self) -> tuple[float, float] | None:
        """Wilson 95 % interval of CSAT %, in percent."""
        interval = wilson_interval(self.csat_satisfied, self.csat_count)
        return None if interval is None else (100.0 * interval[0], 100.0 * interval[1])

    @property
    def mean_csat(self) -> float | None:
        return mean(self.csat_sum, self.csat_count)

    @property
    def sentiment_unclassified(self) -> int:
        classified = self.sentiment_positive + self.sentiment_neutral + self.sentiment_negative
        return self.responses - classified
