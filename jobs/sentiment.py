"""The classification answer: its JSON Schema and checks (the sentiment twin of records.py).

A batch of comments gets exactly one label per comment, item i pinned to comment i, and the
sentiment limited to the values the database accepts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.errors import InvalidAnswer
from npscsat.models import SENTIMENTS

LABELS_KEY = "labels"


class SentimentLabel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    item: int = Field(ge=1)
    sentiment: Literal[SENTIMENTS]  # type: ignore[valid-type]


def labels_schema(count: int) -> dict:
    """The `format` for labelling `count` comments."""
    base = SentimentLabel.model_json_schema()
    sentiment = {k: v for k, v in base["properties"]["sentiment"].items() if k != "title"}
    items = [
        {
            "type": "object",
            "properties": {"item": {"type": "integer", "const": number}, "sentiment": sentiment},
            "required": ["item", "sentiment"],
            "additionalProperties": False,
        }
        for number in range(1, count + 1)
    ]
    return {
        "type": "object",
        "properties": {
            LABELS_KEY: {
                "type": "array",
                "prefixItems": items,
                "minItems": count,
                "maxItems": count,
            }
        },
        "required": [LABELS_KEY],
        "additionalProperties": False,
    }


def label_items(data: Any) -> list:
    """The labels of an answer, or InvalidAnswer when the shape is wrong altogether."""
    if isinstance(data, dict) and isinstance(data.get(LABELS_KEY), list):
        return data[LABELS_KEY]
    if isinstance(data, list):
        return data
    raise InvalidAnswer(f"expected an object with a '{LABELS_KEY}' array")


@dataclass
class LabelCheck:
    labels: dict[int, str] = field(default_factory=dict)  # item number (1-based) -> sentiment
    dropped: Counter[str] = field(default_factory=Counter)


def check_labels(items: list, count: int) -> LabelCheck:
    """Valid labels by item number; everything else dropped with its reason."""
    result = LabelCheck()
    mentioned: set[int] = set()
    for raw in items:
        number = raw.get("item") if isinstance(raw, dict) else None
        if type(number) is not int or not 1 <= number <= count:
            result.dropped["unknown_item"] += 1
            continue
        if number in mentioned:
            result.dropped["duplicate_item"] += 1
            continue
        mentioned.add(number)
        try:
            label = SentimentLabel.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            result.dropped[f"invalid_{first['loc'][0]}" if first["loc"] else "invalid_label"] += 1
            continue
        result.labels[number] = label.sentiment
    if len(mentioned) < count:
        result.dropped["missing_from_answer"] += count - len(mentioned)
    return result
