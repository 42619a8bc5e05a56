"""The classification answer: its JSON Schema and checks (the sentiment twin of records.py).

A batch of comments gets exactly one label per comment, by position (no echoed item numbers:
`{"labels": ["positive", "negative", ...]}`), each limited to the values the database accepts.
A broken answer keeps the labels before the break.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from jobs.errors import InvalidAnswer
from jobs.records import parse_answer
from npscsat.models import SENTIMENTS

LABELS_KEY = "labels"


def labels_schema(count: int) -> dict:
    """The `format` for labelling `count` comments."""
    label = {"type": "string", "enum": list(SENTIMENTS)}
    return {
        "type": "object",
        "properties": {
            LABELS_KEY: {
                "type": "array",
                "prefixItems": [label] * count,
                "minItems": count,
                "maxItems": count,
            }
        },
        "required": [LABELS_KEY],
        "additionalProperties": False,
    }


@dataclass
class LabelCheck:
    labels: dict[int, str] = field(default_factory=dict)  # item number (1-based) -> sentiment
    dropped: Counter[str] = field(default_factory=Counter)


def check_labels(items: list, count: int) -> LabelCheck:
    """Valid labels by position; everything else dropped with its reason."""
    result = LabelCheck()
    for number, raw in enumerate(items[:count], start=1):
        if isinstance(raw, str) and raw.strip().lower() in SENTIMENTS:
            result.labels[number] = raw.strip().lower()
        else:
            result.dropped["invalid_sentiment"] += 1
    if len(items) > count:
        result.dropped["extra_label"] += len(items) - count
    if len(items) < count:
        result.dropped["missing_from_answer"] += count - len(items)
    return result


def read_labels(content: str, count: int) -> LabelCheck:
    """Parses and checks one answer; InvalidAnswer when it holds no label at all."""
    answer = parse_answer(content, LABELS_KEY)
    if not answer.items:
        raise InvalidAnswer(f"no label in the answer: {content[:80]!r}")
    return check_labels(answer.items, count)
