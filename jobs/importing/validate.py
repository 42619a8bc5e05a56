"""Checks one row of an import file (pure: no I/O). Every problem names the line, the column as
the file names it, and the value: `line 17, nps_score: "11" is not between 0 and 10`.

The rules are the database's (db/init): NPS 0-10, CSAT 1-5, at least one of the two, a known
channel and customer type, a comment of at most 1,000 characters; plus what only an import
needs: an external id, and a timestamp (ISO 8601; without an offset it is read in the file's
time zone when the file names one, else in BUSINESS_TIMEZONE).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from jobs.importing.formats import FIELDS, Layout, shown_value
from jobs.importing.reader import Record

EXTERNAL_ID_MAX = 200  # survey_response_external_id_length
COMMENT_MAX = 1000  # survey_response_comment_length
EARLIEST = datetime(1990, 1, 1, tzinfo=ZoneInfo("UTC"))
FUTURE_SLACK = timedelta(hours=1)  # clocks differ; an hour ahead is still "now"
(_ID, _AT, _CHANNEL, _TYPE, _NPS, _CSAT, _COMMENT) = range(len(FIELDS))
# The fast path's score lookups: exactly the texts of valid scores ("" and no column: None).
_NPS_TEXTS = {str(score): score for score in range(11)} | {"": None, None: None}
_CSAT_TEXTS = {str(score): score for score in range(1, 6)} | {"": None, None: None}
_MISSING = object()


class ImportRow(NamedTuple):  # made a million times: a NamedTuple is 3x cheaper than a dataclass
    line: int
    external_id: str
    responded_at: datetime  # aware
    channel: str
    customer_type: str
    nps_score: int | None
    csat_score: int | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    column: str | None  # as the file names it; None for a problem of the whole row
    value: str | None
    problem: str

    @property
    def message(self) -> str:
        if self.column is None:
            return f"line {self.line}: {self.problem}"
        if self.value is None:
            return f"line {self.line}, {self.column}: {self.problem}"
        return f'line {self.line}, {self.column}: "{shown_value(self.value)}" {self.problem}'


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that is not an answer at all (a Qualtrics preview, an unanswered survey)."""

    line: int
    reason: str


class RowValidator:
    """Checks records of one file against its layout and the database's codes."""

    def __init__(
        self,
        layout: Layout,
        *,
        channels: Mapping[str, str],
        customer_types: Mapping[str, str],
        business_timezone: ZoneInfo,
        now: datetime,
    ) -> None:
        self.layout = layout
        self.columns = layout.columns
        self.zone = layout.timezone or business_timezone
        self.latest = now + FUTURE_SLACK
        self.channels = _lookup(channels)
        self.customer_types = _lookup(customer_types)
        self._channel_codes = ", ".join(channels)
        self._type_codes = ", ".join(customer_types)
        # The fast path's lookups: the exact spellings only (code or label, as stored).
        self._exact_channels = {label: code for code, label in channels.items()} | {
            code: code for code in channels
        }
        self._exact_types = {label: code for code, label in customer_types.items()} | {
            code: code for code in customer_types
        }
        # Our fields of a record in one C call: file columns, then the --set values appended.
        constants = [c for c in layout.constants if c is not None]
        width = layout.width
        tail = iter(range(width, width + len(constants)))
        self._constants = constants
        self._pick = operator.itemgetter(
            *[
                p if p is not None else (next(tail) if c is not None else -1)
                for p, c in zip(layout.positions, layout.constants, strict=True)
            ]
        )
        self._absent = [
            i
            for i, (p, c) in enumerate(zip(layout.positions, layout.constants, strict=True))
            if p is None and c is None
        ]

    def check(self, record: Record) -> ImportRow | Skipped | list[RowProblem]:
        """The row, checked; or why it is skipped; or every problem it has."""
        fast = self._fast(record)
        if fast is not None:
            return fast
        return self.full_check(record)

    def _fast(self, record: Record) -> ImportRow | None:
        """The common case in a few dictionary lookups: a row whose every value is exactly
        valid as written. Anything else (spaces to trim, another case, a problem) is left to
        full_check, the one place that explains."""
        line, fields = record
        if len(fields) != self.layout.width or self.layout.unanswered_is_skipped:
            return None
        values = self._pick(fields + self._constants if self._constants else fields)
        if self._absent:
            values = list(values)
            for index in self._absent:
                values[index] = None
        external_id, at, channel, customer_type, nps, csat, comment = values
        nps = _NPS_TEXTS.get(nps, _MISSING)
        csat = _CSAT_TEXTS.get(csat, _MISSING)
        channel = self._exact_channels.get(channel)
        customer_type = self._exact_types.get(customer_type)
        if (
            nps is _MISSING
            or csat is _MISSING
            or (nps is None and csat is None)
            or channel is None
            or customer_type is None
            or not external_id
            or len(external_id) > EXTERNAL_ID_MAX
            or not external_id.isprintable()
            or external_id[0].isspace()
            or external_id[-1].isspace()
        ):
            return None
        if comment is not None:
            if not comment:
                comment = None
            elif (
                len(comment) > COMMENT_MAX
                or comment[0].isspace()
                or comment[-1].isspace()
                or "\r" in comment
            ):
                return None
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        if not EARLIEST <= moment <= self.latest:
            return None
        return ImportRow(line, external_id, moment, channel, customer_type, nps, csat, comment)

    def full_check(self, record: Record) -> ImportRow | Skipped | list[RowProblem]:
        """Every rule, with a message for each problem (the slow path)."""
        line, fields = record.line, record.fields
        if len(fields) != self.layout.width:
            return [
                RowProblem(
                    line,
                    None,
                    None,
                    f"{len(fields)} fields where the header has {self.layout.width} (a comma "
                    "in an unquoted value?)",
                )
            ]
        reason = self.layout.not_an_answer(fields)
        if reason is not None:
            return Skipped(line, reason)
        values = self.layout.values(fields)
        problems: list[RowProblem] = []
        nps = self._score(line, values, _NPS, 0, 10, problems)
        csat = self._score(line, values, _CSAT, 1, 5, problems)
        if nps is None and csat is None and not problems:
            if self.layout.unanswered_is_skipped:
                return Skipped(line, "no score (the survey was not answered)")
            problems.append(
                RowProblem(
                    line,
                    None,
                    None,
                    "neither nps_score nor csat_score is given; a "
                    "response needs at least one of them",
                )
            )
        external_id = self._external_id(line, values[_ID], problems)
        responded_at = self._timestamp(line, values[_AT], problems)
        channel = self._code(line, values, _CHANNEL, self.channels, problems)
        customer_type = self._code(line, values, _TYPE, self.customer_types, problems)
        comment = self._comment(line, values[_COMMENT], problems)
        if problems:
            return problems
        return ImportRow(
            line, external_id, responded_at, channel, customer_type, nps, csat, comment
        )

    def _score(
        self, line: int, values: tuple, index: int, low: int, high: int, problems: list
    ) -> int | None:
        raw = values[index]
        if raw is None:
            return None
        text = raw.strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            problems.append(
                RowProblem(
                    line, self.columns[index], raw, f"is not a whole number from {low} to {high}"
                )
            )
            return None
        score = int(text)
        if not low <= score <= high:
            problems.append(
                RowProblem(line, self.columns[index], raw, f"is not between {low} and {high}")
            )
            return None
        return score

    def _external_id(self, line: int, raw: str, problems: list) -> str:
        text = raw.strip()
        if not text:
            problems.append(
                RowProblem(line, self.columns[_ID], None, "is empty; every row needs its id")
            )
        elif len(text) > EXTERNAL_ID_MAX:
            problems.append(
                RowProblem(
                    line, self.columns[_ID], text, f"is longer than {EXTERNAL_ID_MAX} characters"
                )
            )
        elif not text.isprintable():
            problems.append(RowProblem(line, self.columns[_ID], text, "holds control characters"))
        return text

    def _timestamp(self, line: int, raw: str, problems: list) -> datetime:
        text = raw.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            problems.append(
                RowProblem(
                    line,
                    self.columns[_AT],
                    raw,
                    "is not an ISO 8601 timestamp such as 2026-11-30T14:05:00-03:00",
                )
            )
            return EARLIEST
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        if moment < EARLIEST:
            problems.append(RowProblem(line, self.columns[_AT], raw, "is before 1990"))
        elif moment > self.latest:
            problems.append(RowProblem(line, self.columns[_AT], raw, "is in the future"))
        return moment

    def _code(
        self, line: int, values: tuple, index: int, known: dict[str, str], problems: list
    ) -> str:
        raw = values[index]
        code = known.get(raw.strip().lower())
        if code is None:
            kind, codes, command = (
                ("channel", self._channel_codes, "channels")
                if index == _CHANNEL
                else ("customer type", self._type_codes, "customer-types")
            )
            problems.append(
                RowProblem(
                    line,
                    self.columns[index],
                    raw,
                    f"is not a known {kind}; known codes: {codes} (add one with "
                    f"`python -m jobs {command} add CODE LABEL`)",
                )
            )
            return ""
        return code

    def _comment(self, line: int, raw: str | None, problems: list) -> str | None:
        if raw is None:
            return None
        text = raw.replace("\r\n", "\n").strip()
        if not text:
            return None
        if len(text) > COMMENT_MAX:
            problems.append(
                RowProblem(
                    line,
                    self.columns[_COMMENT],
                    text,
                    f"is longer than {COMMENT_MAX:,} characters",
                )
            )
        return text


def _lookup(codes: Mapping[str, str]) -> dict[str, str]:
    """Code or label, any case -> code (an export may say "Live chat" or "CHAT")."""
    found = {label.strip().lower(): code for code, label in codes.items()}
    found.update({code.lower(): code for code in codes})
    return found
