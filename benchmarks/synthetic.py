"""Synthetic survey responses for benchmarks: fast to make, realistic enough in shape."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

CHANNELS = ("phone", "email", "chat", "whatsapp", "self_service")
CUSTOMER_TYPES = ("individual", "small_business", "enterprise")
COLUMNS = "(responded_at, channel, customer_type, nps_score, csat_score, comment, generator_slot)"
COMMENTS = ("Quick answer, thanks.", "Took too long to reply.", "Fine overall.", None)


def responses_tsv(count: int, first_slot: int, end: datetime, days: int, seed: int) -> str:
    """`count` rows in COPY text format spread over `days` days before `end`."""
    rnd = random.Random(seed)
    span = days * 86_400
    out = io.StringIO()
    for slot in range(first_slot, first_slot + count):
        ts = end - timedelta(seconds=rnd.randrange(span))
        nps = min(10, max(0, round(rnd.gauss(7.5, 2.2))))
        csat = (
            "\\N"
            if rnd.random() < 0.05
            else str(min(5, max(1, round(nps / 2.4 + rnd.gauss(0.6, 0.7)))))
        )
        comment = rnd.choice(COMMENTS) or "\\N"
        out.write(
            f"{ts.isoformat()}\t{rnd.choice(CHANNELS)}\t{rnd.choice(CUSTOMER_TYPES)}\t"
            f"{nps}\t{csat}\t{comment}\t{slot}\n"
        )
    return out.getvalue()


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
