"""The file formats an import understands, as a mapping from a file's columns to our fields.

- `npscsat` (the default): our documented format, one header row naming our fields
  (docs/importing.md). Every column must be one of ours, so a typo in a header is an error.
- `qualtrics`: a Qualtrics survey's response export (Data & Analysis -> Export data -> CSV, with
  numeric values). As Qualtrics documents it ("Understanding Your Dataset"), the file has three
  header rows: the field IDs (EndDate, ResponseId, Q1, ...), the question texts, and the import
  IDs (JSON, with the time zone of the date columns). Questions are survey-specific, so the user
  names the NPS / CSAT / comment question IDs with --map; everything else is dropped.

`--map FIELD=COLUMN` names the file column that holds one of our fields (any format);
`--set FIELD=VALUE` gives a field one value for every row (a file of one channel, say).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs.importing.reader import ImportRefused, Record

FIELDS = (
    "external_id",
    "responded_at",
    "channel",
    "customer_type",
    "nps_score",
    "csat_score",
    "comment",
)
REQUIRED = ("external_id", "responded_at", "channel", "customer_type")
SCORES = ("nps_score", "csat_score")
FORMATS = ("npscsat", "qualtrics")

# Qualtrics' Status column: test runs, previews and spam are not customer answers. Numeric
# codes and their "choice text" names (Understanding Your Dataset, "Status").
_QUALTRICS_NOT_ANSWERS = {
    "1": "survey preview",
    "2": "survey test",
    "8": "spam",
    "9": "survey preview spam",
    "12": "imported spam",
    "17": "offline survey preview",
}
_QUALTRICS_NOT_ANSWER_NAMES = set(_QUALTRICS_NOT_ANSWERS.values())


@dataclass(frozen=True)
class Mapping:
    """--map and --set of the command line, checked."""

    columns: dict[str, str] = field(default_factory=dict)  # our field -> file column
    constants: dict[str, str] = field(default_factory=dict)  # our field -> one value

    @classmethod
    def parse(cls, maps: Sequence[str] = (), sets: Sequence[str] = ()) -> Mapping:
        columns = _pairs(maps, "--map", "FIELD=COLUMN")
        constants = _pairs(sets, "--set", "FIELD=VALUE")
        both = sorted(set(columns) & set(constants))
        if both:
            raise ImportRefused(f"{both[0]} is given by both --map and --set; keep one")
        return cls(columns, constants)


def _pairs(items: Sequence[str], option: str, shape: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not value.strip():
            raise ImportRefused(f'{option} "{item}" is not {shape}')
        if name not in FIELDS:
            raise ImportRefused(f'{option} "{item}": {name} is not one of {", ".join(FIELDS)}')
        if name in pairs:
            raise ImportRefused(f"{option} names {name} twice")
        pairs[name] = value.strip()
    return pairs


@dataclass(frozen=True)
class Layout:
    """Where each of our fields is in a record of this file (or its one value), how the file
    names it in messages, and which records are not answers at all."""

    file_format: str
    width: int  # fields in the header
    positions: tuple[int | None, ...]  # per FIELDS
    constants: tuple[str | None, ...]  # per FIELDS
    columns: tuple[str, ...]  # per FIELDS: the name an error message gives
    timezone: ZoneInfo | None = None  # zone of timestamps without offset, if the file says
    unanswered_is_skipped: bool = False  # a row without any score: skipped, not an error
    not_an_answer: Callable[[list[str]], str | None] = lambda fields: None

    def values(self, fields: list[str]) -> tuple[str, ...]:
        return tuple(
            const if position is None else fields[position]
            for position, const in zip(self.positions, self.constants, strict=True)
        )

    @property
    def has_comment(self) -> bool:
        index = FIELDS.index("comment")
        return self.positions[index] is not None or self.constants[index] is not None


def read_layout(
    file_format: str, records: Iterator[Record], mapping: Mapping, *, file_name: str
) -> Layout:
    """Reads the header row(s) of the file and returns its layout (or refuses the header)."""
    if file_format == "npscsat":
        return _npscsat_layout(_header(records, file_name), mapping)
    if file_format == "qualtrics":
        return _qualtrics_layout(records, mapping, file_name)
    raise ImportRefused(f"unknown format {file_format!r}; known: {', '.join(FORMATS)}")


def _header(records: Iterator[Record], file_name: str) -> Record:
    header = next(records, None)
    if header is None:
        raise ImportRefused(
            f"{file_name} is empty: expected a header row, such as {','.join(FIELDS)}"
        )
    return header


def _normalised(header: Record) -> list[str]:
    names = [name.strip() for name in header.fields]
    seen: set[str] = set()
    for name in names:
        key = name.lower()
        if key in seen:
            raise ImportRefused(f'line {header.line}: column "{name}" appears twice')
        seen.add(key)
    return names


def _npscsat_layout(header: Record, mapping: Mapping) -> Layout:
    names = _normalised(header)
    index = {name.lower(): i for i, name in enumerate(names)}
    mapped = {column.lower(): name for name, column in mapping.columns.items()}
    if len(names) == 1 and ";" in names[0]:
        raise ImportRefused(
            f'line {header.line}: one column "{shown_value(names[0])}": the file seems to use ";" '
            "between fields; our format uses commas (save it as CSV UTF-8, comma-delimited)"
        )
    for name in names:
        if name.lower() not in FIELDS and name.lower() not in mapped:
            raise ImportRefused(
                f'line {header.line}: unknown column "{shown_value(name)}"; the columns of our '
                f"format are {', '.join(FIELDS)} (docs/importing.md). Another tool's export? "
                "See --format and --map."
            )
    return _layout("npscsat", header, names, index, mapping, defaults={f: f for f in FIELDS})


def _layout(
    file_format: str,
    header: Record,
    names: list[str],
    index: dict[str, int],
    mapping: Mapping,
    *,
    defaults: dict[str, str],
    **extra,
) -> Layout:
    positions: list[int | None] = []
    constants: list[str | None] = []
    columns: list[str] = []
    for name in FIELDS:
        if name in mapping.constants:
            positions.append(None)
            constants.append(mapping.constants[name])
            columns.append(f"{name} (--set)")
            continue
        column = mapping.columns.get(name, defaults.get(name))
        position = None if column is None else index.get(column.lower())
        if position is None and column is not None and name in mapping.columns:
            raise ImportRefused(
                f'line {header.line}: --map {name}={column}: the file has no column "{column}"'
            )
        if position is None and name in REQUIRED:
            raise ImportRefused(
                f'line {header.line}: missing column "{column or name}" ({name} is required'
                + (
                    f"; or give every row one value with --set {name}=..."
                    if name in ("channel", "customer_type")
                    else ""
                )
                + ")"
            )
        positions.append(position)
        constants.append(None)
        shown = names[position] if position is not None else name
        columns.append(shown if shown == name else f"{shown} ({name})")
    if all(positions[FIELDS.index(s)] is None for s in SCORES):
        raise ImportRefused(
            f"line {header.line}: neither nps_score nor csat_score is a column; a file needs at "
            "least one of them" + (" (name them with --map)" if file_format != "npscsat" else "")
        )
    return Layout(
        file_format, len(names), tuple(positions), tuple(constants), tuple(columns), **extra
    )


def _qualtrics_layout(records: Iterator[Record], mapping: Mapping, file_name: str) -> Layout:
    ids = _header(records, file_name)
    questions = next(records, None)
    import_ids = next(records, None)
    if questions is None or import_ids is None or not import_ids.fields[0].lstrip().startswith("{"):
        line = import_ids.line if import_ids else ids.line + 1
        raise ImportRefused(
            f"line {line}: not a Qualtrics export: it has three header rows (field IDs, question "
            'texts, then import IDs such as {"ImportId":"startDate"}); export the responses '
            "from Data & Analysis as CSV"
        )
    names = _normalised(ids)
    index = {name.lower(): i for i, name in enumerate(names)}
    # Channel and customer type come from embedded data fields, named like ours by default.
    defaults = {
        "external_id": "ResponseId",
        "responded_at": "EndDate",
        "channel": "channel",
        "customer_type": "customer_type",
    }
    if not any(score in mapping.columns for score in SCORES):
        raise ImportRefused(
            "a Qualtrics export holds every question of the survey: name the NPS and / or CSAT "
            "question with --map nps_score=QID and --map csat_score=QID (the IDs on line "
            f"{ids.line}, such as Q1), and the comment with --map comment=QID"
        )
    timezone = _qualtrics_timezone(
        import_ids, index.get(mapping.columns.get("responded_at", "EndDate").lower())
    )
    status = index.get("status")
    return _layout(
        "qualtrics",
        ids,
        names,
        index,
        mapping,
        defaults=defaults,
        timezone=timezone,
        unanswered_is_skipped=True,
        not_an_answer=(lambda fields: _qualtrics_not_answer(fields, status)),
    )


def _qualtrics_timezone(import_ids: Record, position: int | None) -> ZoneInfo | None:
    """The time zone Qualtrics names for the date column, e.g. {"ImportId":"endDate",
    "timeZone":"America/Denver"}; None when it names none."""
    if position is None or position >= len(import_ids.fields):
        return None
    try:
        described = json.loads(import_ids.fields[position])
    except ValueError:
        return None
    zone = described.get("timeZone") if isinstance(described, dict) else None
    if not zone:
        return None
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportRefused(
            f'line {import_ids.line}: unknown time zone "{shown_value(zone)}" for the date column'
        ) from None


def _qualtrics_not_answer(fields: list[str], status: int | None) -> str | None:
    if status is None or status >= len(fields):
        return None
    value = fields[status].strip()
    if value in _QUALTRICS_NOT_ANSWERS:
        return _QUALTRICS_NOT_ANSWERS[value]
    if value.lower() in _QUALTRICS_NOT_ANSWER_NAMES:
        return value.lower()
    return None


def shown_value(value: str, limit: int = 40) -> str:
    """A value as a message shows it: short, with its length when cut."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"
