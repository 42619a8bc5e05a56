"""The generation answer: its JSON Schema, how an answer is read, and the checks every generated
record must pass.

The model writes only what the job cannot know. Everything the scenario fixed (channel, customer
type, time, topic, NPS category, whether there is a comment) stays in the prompt and is never
echoed back: one answer is an array with one small object per case, in case order, holding the
two scores and, for a respondent who writes one, the comment:

    {"answers": [{"nps": 9, "csat": 5, "comment": "Solved on the first call, thanks."},
                 {"nps": 7, "csat": 4}, ...]}

(Measured against SmolLM2-135M: bare positional arrays, `[9, 5, "..."]`, cost a few tokens less
but the model lost track of what to write and put JSON fragments inside the comments; the keys
tell it.) The JSON Schema sent as `format` pins each record: the NPS score is an enum of the
case's category band, the CSAT score an enum of the band that agrees with it, the comment a
string with length bounds. It uses only keywords every schema-to-grammar converter is known to
honour (type, enum, properties, required, prefixItems, minItems/maxItems, minLength/maxLength);
servers still have gaps (array item counts are not enforced everywhere, ollama/ollama#8063),
so the Pydantic model and the checks below have the last word.

An answer that breaks off (the token cap, a dropped connection) or goes wrong half-way (a raw
control character inside a comment, a missing comma) still gives its complete records: it is
read up to the break, and only the cases after it are asked again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import pydantic_core
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from jobs import comments
from jobs.errors import InvalidAnswer
from jobs.scenario import Case

COMMENT_MIN_CHARS = 15
COMMENT_MAX_CHARS = 240  # one or two sentences; longer is a runaway, not a survey comment
ANSWER_KEY = "answers"
# Keys of a record in the answer -> fields of GeneratedAnswer.
KEYS = {"nps": "nps_score", "csat": "csat_score", "comment": "comment"}
# Output budget of one call (num_predict): a record's brackets, scores and commas, plus a
# comment at its longest (about 3 characters a token), plus the wrapper object. A model that
# ignores the grammar's end, or pads with white space, stops here instead of running on.
TOKENS_PER_RECORD = 16
TOKENS_PER_COMMENT = COMMENT_MAX_CHARS // 3
TOKENS_PER_ANSWER = 12
# Raw control characters are not allowed inside JSON strings, and small models write newlines
# and tabs into comments. Outside strings they are white space, so a space is right everywhere.
_CONTROL_TO_SPACE = dict.fromkeys([*range(0x20), 0x7F], " ")


def _clean_comment(text: str) -> str:
    text = comments.normalise(text)
    if len(text) < COMMENT_MIN_CHARS:
        raise ValueError(f"comment is shorter than {COMMENT_MIN_CHARS} characters")
    if len(text) > COMMENT_MAX_CHARS:
        raise ValueError(f"comment is longer than {COMMENT_MAX_CHARS} characters")
    return text


Comment = Annotated[str, AfterValidator(_clean_comment)]


class GeneratedAnswer(BaseModel):
    """One record as the model wrote it. Strict: "7" is not 7 and true is not 1."""

    model_config = ConfigDict(strict=True, extra="forbid")

    nps_score: int = Field(ge=0, le=10)
    csat_score: int = Field(ge=1, le=5)
    comment: Comment | None = None


def token_budget(cases: Sequence[Case]) -> int:
    """num_predict for one call of these cases."""
    with_comment = sum(case.wants_comment for case in cases)
    return TOKENS_PER_ANSWER + TOKENS_PER_RECORD * len(cases) + TOKENS_PER_COMMENT * with_comment


def _item_schema(case: Case) -> dict:
    nps_low, nps_high = case.nps_band
    csat_low, csat_high = case.csat_band
    properties: dict[str, dict] = {
        "nps": {"type": "integer", "enum": list(range(nps_low, nps_high + 1))},
        "csat": {"type": "integer", "enum": list(range(csat_low, csat_high + 1))},
    }
    if case.wants_comment:
        properties["comment"] = {
            "type": "string",
            "minLength": COMMENT_MIN_CHARS,
            "maxLength": COMMENT_MAX_CHARS,
        }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def batch_schema(cases: Sequence[Case]) -> dict:
    """The `format` for one call: exactly len(cases) records, record i shaped for case i."""
    # No "items" keyword: llama.cpp's converter prefers "items" over "prefixItems", so adding it
    # would loosen the per-case shapes. minItems / maxItems state the exact count to the
    # converters that read them; the checks catch the ones that do not.
    return {
        "type": "object",
        "properties": {
            ANSWER_KEY: {
                "type": "array",
                "prefixItems": [_item_schema(case) for case in cases],
                "minItems": len(cases),
                "maxItems": len(cases),
            }
        },
        "required": [ANSWER_KEY],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ParsedAnswer:
    items: list
    complete: bool  # False: the answer broke off or went wrong; `items` are those before it


def parse_answer(content: str, key: str = ANSWER_KEY) -> ParsedAnswer:
    """The array under `key` (or a bare array), read up to the first break. InvalidAnswer when
    nothing of that shape can be read at all."""
    text = content.translate(_CONTROL_TO_SPACE)
    try:
        data, complete = json.loads(text), True
    except json.JSONDecodeError as exc:
        # Everything before the error is well-formed JSON cut short: read what it holds.
        try:
            data, complete = pydantic_core.from_json(text[: exc.pos], allow_partial=True), False
        except ValueError:
            raise InvalidAnswer(f"not JSON: {content[:80]!r}") from None
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return ParsedAnswer(data[key], complete)
    if isinstance(data, list):  # a model that dropped the wrapper object: still usable
        return ParsedAnswer(data, complete)
    raise InvalidAnswer(f"expected an object with a '{key}' array: {content[:80]!r}")


class ResponseRow(NamedTuple):
    """A checked record, in the column order of the loader's COPY."""

    generator_slot: int
    responded_at: datetime
    channel: str
    customer_type: str
    nps_score: int
    csat_score: int | None
    comment: str | None


KEPT = "kept"
NOT_WRITTEN = "missing_from_answer"  # the answer ended (or broke off) before this record
UNUSABLE = "unusable_answer"  # the call gave no usable answer at all
_NOT_RECORDS = (KEPT, NOT_WRITTEN, UNUSABLE)


@dataclass
class BatchCheck:
    rows: list[ResponseRow] = field(default_factory=list)
    missing: list[Case] = field(default_factory=list)  # to ask again
    outcomes: list[str] = field(default_factory=list)  # per case, in order: KEPT or a reason
    extra: int = 0  # records beyond the cases asked for
    complete: bool = True

    @classmethod
    def unusable(cls, cases: Sequence[Case]) -> BatchCheck:
        return cls(missing=list(cases), outcomes=[UNUSABLE] * len(cases), complete=False)

    @property
    def dropped(self) -> Counter[str]:
        """Reason -> records the model wrote that were not kept."""
        found = Counter(o for o in self.outcomes if o not in _NOT_RECORDS)
        if self.extra:
            found["extra_record"] = self.extra
        return found

    @property
    def written(self) -> int:
        """Records the model wrote, kept or not (the denominator of the kept share)."""
        return sum(o not in (NOT_WRITTEN, UNUSABLE) for o in self.outcomes) + self.extra


def _validation_reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"invalid_{first['loc'][0]}" if first["loc"] else "invalid_record"


class _Checked(NamedTuple):
    record: GeneratedAnswer
    words: list[str]  # of the comment, for the comparisons with the answer's other comments


def _check_record(item: Any, case: Case) -> str | _Checked:
    """The record for the case, or the reason it is dropped."""
    if not isinstance(item, dict):
        return "wrong_shape"
    if "nps" not in item or "csat" not in item or (case.wants_comment and "comment" not in item):
        return "incomplete_record"
    if not item.keys() <= KEYS.keys():
        return "wrong_shape"
    # A converter that ignored the schema may let the model add a comment nobody wrote: the
    # scenario decides who comments, so such a text is not even read.
    fields = {KEYS[key]: value for key, value in item.items() if key != "comment"}
    if case.wants_comment:
        fields["comment"] = item["comment"]
    try:
        record = GeneratedAnswer.model_validate(fields)
    except ValidationError as exc:
        return _validation_reason(exc)
    nps_low, nps_high = case.nps_band
    if not nps_low <= record.nps_score <= nps_high:
        return "nps_outside_band"
    csat_low, csat_high = case.csat_band
    if not csat_low <= record.csat_score <= csat_high:
        return "csat_outside_band"
    if record.comment is None:
        return _Checked(record, [])
    comment_words = comments.words(record.comment)
    if problem := comments.problem(record.comment, case.category, case.topic, comment_words):
        return problem
    return _Checked(record, comment_words)


def check_answer(
    answer: ParsedAnswer, cases: Sequence[Case], run_comments: comments.RunRepeats | None = None
) -> BatchCheck:
    """Keeps the records that pass every check; the other cases are returned to ask again.
    Records are matched to cases by position (nothing in them names the case). `run_comments`
    holds the run's long comments kept so far, to refuse repeats across answers too."""
    result = BatchCheck(extra=max(len(answer.items) - len(cases), 0), complete=answer.complete)
    batch_comments = comments.NearDuplicates()
    for index, case in enumerate(cases):
        outcome = (
            _check_record(answer.items[index], case) if index < len(answer.items) else NOT_WRITTEN
        )
        if isinstance(outcome, _Checked) and outcome.words:
            comment = outcome.record.comment
            # Small models repeat themselves; a real survey does not, not even nearly.
            if not batch_comments.add(comment, outcome.words):
                outcome = "near_duplicate_comment"
            elif run_comments is not None and not run_comments.add(comment, outcome.words):
                outcome = "repeated_comment"
        if isinstance(outcome, str):
            result.outcomes.append(outcome)
            result.missing.append(case)
            continue
        record = outcome.record
        result.outcomes.append(KEPT)
        result.rows.append(
            ResponseRow(
                generator_slot=case.slot,
                responded_at=case.responded_at,
                channel=case.channel,
                customer_type=case.customer_type,
                nps_score=record.nps_score,
                csat_score=None if case.csat_skipped else record.csat_score,
                comment=record.comment,
            )
        )
    return result


def read_answer(
    content: str, cases: Sequence[Case], run_comments: comments.RunRepeats | None = None
) -> BatchCheck:
    """Parses and checks one answer; InvalidAnswer (worth asking again at once) when it holds
    no record at all."""
    answer = parse_answer(content)
    if not any(answer.items):  # nothing, or only the empty start of a first record
        raise InvalidAnswer(f"no record in the answer: {content[:80]!r}")
    return check_answer(answer, cases, run_comments)
