"""Python's own recomputation of the rollup's counts, straight from answers (for tests)."""

from __future__ import annotations

from collections.abc import Iterable

from npscsat.metrics import Totals


def totals_of(answers: Iterable[tuple[int | None, int | None]]) -> Totals:
    """Counts and sums of (NPS or None, CSAT or None) answers, as the rollup keeps them."""
    scores = list(answers)
    nps = [n for n, _ in scores if n is not None]
    csat = [c for _, c in scores if c is not None]
    return Totals(
        responses=len(scores),
        promoters=sum(n >= 9 for n in nps),
        passives=sum(7 <= n <= 8 for n in nps),
        detractors=sum(n <= 6 for n in nps),
        nps_sum=sum(nps),
        csat_count=len(csat),
        csat_sum=sum(csat),
        csat_satisfied=sum(c >= 4 for c in csat),
    )
