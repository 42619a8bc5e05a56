"""The messages sent to the model. Short on purpose: every word is paid for on every call, and
the JSON Schema (sent as `format`) already fixes the shape, so the prompt only has to explain
the task and list the cases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobs.records import ANSWER_KEY, COMMENT_MAX_CHARS, COMMENT_MIN_CHARS
from jobs.scenario import Case, csat_band

MOOD = {
    "detractor": "unhappy, complains",
    "passive": "mixed, lukewarm",
    "promoter": "delighted, praises",
}

GENERATION_SYSTEM = (
    "You write realistic answers to a customer-support satisfaction survey. For each numbered "
    "case, answer as that customer: a CSAT score (1-5, within the given range) and a comment of "
    f"one or two sentences ({COMMENT_MIN_CHARS}-{COMMENT_MAX_CHARS} characters) in the "
    "customer's own voice about that support contact. The comment must match the mood and "
    "mention the topic in your own words; vary the wording between cases. "
    f'Reply with JSON only: {{"{ANSWER_KEY}": [...]}}, one object per case, in case order, '
    "copying case, channel, customer_type and nps_score from the case."
)

CLASSIFY_SYSTEM = (
    "You label the sentiment of customer comments about a support contact: positive, neutral "
    "or negative. Judge the comment text only. Reply with JSON only: "
    '{"labels": [{"item": 1, "sentiment": "..."}, ...]}, one label per comment, in order.'
)


def generation_messages(
    cases: Sequence[Case], channel_labels: Mapping[str, str], type_labels: Mapping[str, str]
) -> list[dict]:
    lines = []
    for number, case in enumerate(cases, start=1):
        low, high = csat_band(case.nps_score)
        lines.append(
            f"{number}. channel={case.channel} ({channel_labels.get(case.channel, case.channel)}),"
            f" customer_type={case.customer_type}"
            f" ({type_labels.get(case.customer_type, case.customer_type)}),"
            f" nps_score={case.nps_score} ({MOOD[case.category]}), csat {low}-{high},"
            f" topic: {case.topic}"
        )
    user = f"Write {len(cases)} survey answers, one per case:\n" + "\n".join(lines)
    return [
        {"role": "system", "content": GENERATION_SYSTEM},
        {"role": "user", "content": user},
    ]


def classification_messages(comments: Sequence[str]) -> list[dict]:
    # Comments are already one line each (normalised when generated, or below for other sources).
    lines = [f"{number}. {' '.join(text.split())}" for number, text in enumerate(comments, 1)]
    user = f"Label these {len(comments)} comments:\n" + "\n".join(lines)
    return [
        {"role": "system", "content": CLASSIFY_SYSTEM},
        {"role": "user", "content": user},
    ]
