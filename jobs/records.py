"""The generation answer: its JSON Schema, and the checks every generated record must pass.

One Pydantic model defines a generated record (channel and customer-type enums read from the
database, score ranges, comment length). Its JSON Schema is sent to Ollama as `format`, narrowed
per batch: an array of exactly one item per case (`prefixItems`, `minItems` = `maxItems`), each
item's case number, channel, customer type and NPS fixed to what the job drew, and its CSAT range
to the band that agrees with that NPS. Grammar-constrained decoding then keeps even a small model
on the rails; when a model or server ignores the schema anyway, the same Pydantic model and the
checks below drop the record and say why.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from jobs.coherence import contradicts
from jobs.errors import InvalidAnswer
from jobs.scenario import Case, csat_band

COMMENT_MIN_CHARS = 15
COMMENT_MAX_CHARS = 400
ANSWER_KEY = "responses"
_SPACES = re.compile(r"\s+")


def normalise_comment(text: str) -> str:
    """One line of plain text: control characters removed, runs of white space collapsed."""
    if text.isprintable():  # the common case, checked in C: only spaces to tidy
        return " ".join(text.split())
    printable = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    return _SPACES.sub(" ", printable).strip()


def _clean_comment(text: str) -> str:
    text = normalise_comment(text)
    if len(text) < COMMENT_MIN_CHARS:
        raise ValueError(f"comment is shorter than {COMMENT_MIN_CHARS} characters")
    if len(text) > COMMENT_MAX_CHARS:
        raise ValueError(f"comment is longer than {COMMENT_MAX_CHARS} characters")
    return text


Comment = Annotated[
    str,
    Field(min_length=COMMENT_MIN_CHARS, max_length=COMMENT_MAX_CHARS),
    AfterValidator(_clean_comment),
]


class _GeneratedRecordBase(BaseModel):
    # Strict: "7" is not 7 and true is not 1; a model that ignores the schema is caught here.
    model_config = ConfigDict(strict=True, extra="ignore")


def build_record_model(channels: Sequence[str], customer_types: Sequence[str]) -> type[BaseModel]:
    """The Pydantic model of one generated record, with enums from the database's codes."""
    if not channels or not customer_types:
        raise ValueError("need at least one channel and one customer type")
    return create_model(
        "GeneratedRecord",
        __base__=_GeneratedRecordBase,
        case=(int, Field(ge=1)),
        channel=(Literal[tuple(channels)], ...),
        customer_type=(Literal[tuple(customer_types)], ...),
        nps_score=(int, Field(ge=0, le=10)),
        csat_score=(int, Field(ge=1, le=5)),
        comment=(Comment, ...),
    )


def _without_titles(schema: dict) -> dict:
    return {key: value for key, value in schema.items() if key != "title"}


@functools.cache
def _record_properties(record_model: type[BaseModel]) -> tuple[dict, list[str]]:
    """The record model's JSON Schema properties, computed once per model (it is not cheap)."""
    base = record_model.model_json_schema()
    properties = {name: _without_titles(prop) for name, prop in base["properties"].items()}
    return properties, list(properties)


def batch_schema(cases: Sequence[Case], record_model: type[BaseModel]) -> dict:
    """The `format` for one call: exactly len(cases) items, item i pinned to case i."""
    properties, required = _record_properties(record_model)
    items = []
    for number, case in enumerate(cases, start=1):
        low, high = csat_band(case.nps_score)
        # Shallow copies: the unpinned properties (the comment's) are shared, never modified.
        pinned = {
            **properties,
            "case": {"type": "integer", "const": number},
            "channel": {"type": "string", "const": case.channel},
            "customer_type": {"type": "string", "const": case.customer_type},
            "nps_score": {"type": "integer", "const": case.nps_score},
            "csat_score": {"type": "integer", "minimum": low, "maximum": high},
        }
        items.append(
            {
                "type": "object",
                "properties": pinned,
                "required": required,
                "additionalProperties": False,
            }
        )
    # No "items" keyword: llama.cpp's schema-to-grammar prefers "items" over "prefixItems", so
    # adding it would loosen the tuple. minItems / maxItems state the exact count to everyone.
    return {
        "type": "object",
        "properties": {
            ANSWER_KEY: {
                "type": "array",
                "prefixItems": items,
                "minItems": len(items),
                "maxItems": len(items),
            }
        },
        "required": [ANSWER_KEY],
        "additionalProperties": False,
    }


def answer_items(data: Any) -> list:
    """The list of records in an answer, or InvalidAnswer when the shape is wrong altogether."""
    if isinstance(data, dict) and isinstance(data.get(ANSWER_KEY), list):
        return data[ANSWER_KEY]
    if isinstance(data, list):  # a model that dropped the wrapper object: still usable
        return data
    raise InvalidAnswer(f"expected an object with a '{ANSWER_KEY}' array")


class ResponseRow(NamedTuple):
    """A checked record, in the column order of the loader's COPY."""

    generator_slot: int
    responded_at: datetime
    channel: str
    customer_type: str
    nps_score: int
    csat_score: int | None
    comment: str


@dataclass
class BatchCheck:
    rows: list[ResponseRow] = field(default_factory=list)
    missing: list[Case] = field(default_factory=list)  # to ask again
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> records


def _validation_reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"invalid_{first['loc'][0]}" if first["loc"] else "invalid_record"


def _check_record(item: Any, case: Case, record_model: type[BaseModel]) -> str | ResponseRow:
    """A row for the case, or the reason the record is dropped."""
    try:
        record = record_model.model_validate(item)
    except ValidationError as exc:
        return _validation_reason(exc)
    for name in ("channel", "customer_type", "nps_score"):
        if getattr(record, name) != getattr(case, name):
            return f"wrong_{name}"
    low, high = csat_band(case.nps_score)
    if not low <= record.csat_score <= high:
        return "csat_contradicts_nps"
    if contradicts(case.category, record.comment):
        return "comment_contradicts_nps"
    return ResponseRow(
        generator_slot=case.slot,
        responded_at=case.responded_at,
        channel=case.channel,
        customer_type=case.customer_type,
        nps_score=case.nps_score,
        csat_score=None if case.csat_skipped else record.csat_score,
        comment=record.comment,
    )


def check_answer(items: list, cases: Sequence[Case], record_model: type[BaseModel]) -> BatchCheck:
    """Keeps the records that pass every check; the other cases are returned to ask again."""
    result = BatchCheck()
    accepted: dict[int, ResponseRow] = {}
    seen_cases: set[int] = set()
    seen_comments: set[str] = set()
    for item in items:
        number = item.get("case") if isinstance(item, dict) else None
        if type(number) is not int or not 1 <= number <= len(cases):
            result.dropped["unknown_case"] += 1
            continue
        if number in seen_cases:
            result.dropped["duplicate_case"] += 1
            continue
        seen_cases.add(number)
        outcome = _check_record(item, cases[number - 1], record_model)
        if isinstance(outcome, str):
            result.dropped[outcome] += 1
            continue
        key = outcome.comment.casefold()
        if key in seen_comments:  # small models repeat themselves; a real survey does not
            result.dropped["duplicate_comment"] += 1
            continue
        seen_comments.add(key)
        accepted[number] = outcome
    for number, case in enumerate(cases, start=1):
        if number in accepted:
            result.rows.append(accepted[number])
        else:
            if number not in seen_cases:
                result.dropped["missing_from_answer"] += 1
            result.missing.append(case)
    return result
