"""Synthetic survey responses for benchmarks: fast to make, realistic enough in shape."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

CHANNELS = ("phone", "email", "chat", "whatsapp", "self_service")
CUSTOMER_TYPES = ("individual", "small_business", "enterprise")
COLUMNS = (
    "(responded_at, channel, customer_type, nps_score, csat_score, comment, generator_slot, "
    "source, external_id)"
)
COMMENTS = ("Quick answer, thanks.", "Took too long to reply.", "Fine overall.", None)
# The mix of sources a team has after importing its own responses beside the demo data.
SOURCE_MIX = (("generated", 0.6), ("import:zendesk", 0.3), ("survey", 0.1))


def responses_tsv(
    count: int,
    first_slot: int,
    end: datetime,
    days: int,
    seed: int,
    sources: Sequence[tuple[str, float]] = (("generated", 1.0),),
) -> str:
    """`count` rows in COPY text format spread over `days` days before `end`. Generated rows
    fill generator slots; rows of other sources carry an external id instead; some rows of
    other sources answer CSAT only."""
    rnd = random.Random(seed)
    span = days * 86_400
    names = [name for name, _ in sources]
    weights = [weight for _, weight in sources]
    out = io.StringIO()
    for slot in range(first_slot, first_slot + count):
        ts = end - timedelta(seconds=rnd.randrange(span))
        source = names[0] if len(names) == 1 else rnd.choices(names, weights)[0]
        nps = min(10, max(0, round(rnd.gauss(7.5, 2.2))))
        csat = (
            "\\N"
            if rnd.random() < 0.05
            else str(min(5, max(1, round(nps / 2.4 + rnd.gauss(0.6, 0.7)))))
        )
        generated = source == "generated"
        nps_text = "\\N" if not generated and csat != "\\N" and rnd.random() < 0.2 else str(nps)
        comment = rnd.choice(COMMENTS) or "\\N"
        key = f"{slot}\t{source}\t\\N" if generated else f"\\N\t{source}\t{source}-{slot}"
        out.write(
            f"{ts.isoformat()}\t{rnd.choice(CHANNELS)}\t{rnd.choice(CUSTOMER_TYPES)}\t"
            f"{nps_text}\t{csat}\t{comment}\t{key}\n"
        )
    return out.getvalue()


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
