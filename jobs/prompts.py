"""The messages sent to the model. Short on purpose: every word is paid for on every call, and
the JSON Schema (sent as `format`) already fixes the shape and the score ranges, so the prompt
only has to explain the task and describe each case. The cases are numbered for the reader; the
answer does not repeat the numbers (records are matched by position)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobs.records import ANSWER_KEY
from jobs.scenario import Case

GENERATION_SYSTEM = (
    "You write realistic answers to a customer-support satisfaction survey. For each numbered "
    "case, answer as that customer, in case order: an NPS score (how likely they are to "
    "recommend us, in the given range), a CSAT score (how satisfied they were with this "
    "contact, in the given range) and, only where the case asks for one, a comment of one or two "
    "short sentences in the customer's own words about that contact. The comment matches the "
    "mood, is about the topic in your own words and fits the writing style; no numbers, labels "
    "or quotes from this message. Every comment is different. Unhappy customers complain, happy "
    "customers praise. Reply with JSON only: "
    f'{{"{ANSWER_KEY}": [{{"nps": ..., "csat": ..., "comment": "..."}}, '
    '{"nps": ..., "csat": ...}, ...]}.'
)
# The comment's feeling in one word, next to the topic: a small model follows a cue it reads
# right where it writes the comment far better than the mood at the start of the line.
FEELING = {"detractor": "unhappy", "passive": "lukewarm", "promoter": "happy"}
ALL_COMMENTS = {
    "detractor": "Every comment here is a complaint.",
    "passive": "Every comment here is lukewarm: some good, some bad.",
    "promoter": "Every comment here is praise.",
}

CLASSIFY_SYSTEM = (
    "You label the sentiment of customer comments about a support contact: positive, neutral "
    "or negative: what the customer feels about the contact overall. Sarcasm counts as what it "
    "means; polite thanks without praise or complaint is neutral. Reply with JSON only: "
    '{"labels": ["...", ...]}, one label per comment, in order.'
)


def _case_line(number: int, case: Case, channels: Mapping[str, str], types: Mapping[str, str]):
    nps_low, nps_high = case.nps_band
    csat_low, csat_high = case.csat_band
    wants = (
        f"{FEELING[case.category]} comment ({case.style}) about: {case.topic}"
        if case.wants_comment
        else "no comment"
    )
    return (
        f"{number}. {channels.get(case.channel, case.channel)}, "
        f"{types.get(case.customer_type, case.customer_type).lower()} customer, {case.mood}: "
        f"NPS {nps_low}-{nps_high}, CSAT {csat_low}-{csat_high}; {wants}"
    )


def generation_messages(
    cases: Sequence[Case], channel_labels: Mapping[str, str], type_labels: Mapping[str, str]
) -> list[dict]:
    lines = [
        _case_line(number, case, channel_labels, type_labels)
        for number, case in enumerate(cases, start=1)
    ]
    user = f"Write {len(cases)} survey answers, one per case:\n" + "\n".join(lines)
    categories = {case.category for case in cases if case.wants_comment}
    if len(categories) == 1:
        # One mood for every comment of the batch: said once more, for the whole answer.
        user += "\n" + ALL_COMMENTS[categories.pop()]
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
