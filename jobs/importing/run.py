"""The import step: read, check, stage and load one file, with progress lines and a report.

All-or-nothing by default: one invalid row (or an external id that appears twice) and nothing is
written; the first MAX_SHOWN problems are logged, with a count of the rest. --skip-invalid loads
the valid rows and writes the others, with their problem, to a rejects file next to the input.
--dry-run does everything but the commit.
"""

from __future__ import annotations

import csv
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine, text

from jobs import store
from jobs.errors import JobInterrupted
from jobs.importing.formats import FIELDS, Layout, Mapping, read_layout
from jobs.importing.loader import CHUNK_ROWS, Change, DirectLoadClash, ImportLoader
from jobs.importing.reader import ImportRefused, InputFile, records
from jobs.importing.validate import ImportRow, RowProblem, RowValidator, Skipped
from npscsat import sources

log = structlog.get_logger("jobs.import")
MAX_SHOWN = 20  # problems logged one by one; the rest are counted
PROGRESS_EVERY_SECONDS = 5.0
PROGRESS_EVERY_SHARE = 0.10


@dataclass(frozen=True)
class ImportOptions:
    path: str  # a file, or "-" for standard input
    source_name: str | None = None  # default: the file's base name
    file_format: str = "npscsat"
    skip_invalid: bool = False
    dry_run: bool = False
    update: bool = False
    rejects_file: str | None = None  # default: next to the input
    maps: Sequence[str] = ()
    sets: Sequence[str] = ()


@dataclass
class ImportReport:
    source: str
    file_name: str
    file_format: str
    dry_run: bool
    rows_read: int = 0  # data rows (header rows not counted)
    imported: int = 0
    already_present: int = 0
    changed: int = 0
    updated: int = 0
    invalid_rows: int = 0
    duplicate_rows: int = 0
    skipped: int = 0
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    rejects_file: str | None = None
    unlabelled_comments: int | None = None
    duration_s: float = 0.0

    @property
    def rejected(self) -> int:
        return self.invalid_rows + self.duplicate_rows


def resolve_source(options: ImportOptions) -> str:
    """import:<name>: --source, else the file's base name."""
    name = options.source_name
    if name is None:
        if options.path == "-":
            raise ImportRefused("reading standard input: name the source with --source NAME")
        name = sources.source_name_from_file(options.path)
        if not name:
            raise ImportRefused(f"cannot make a source name of {options.path}; use --source NAME")
    try:
        return sources.import_source(name)
    except ValueError as exc:
        raise ImportRefused(f"--source {exc}") from None


def default_rejects_path(path: str) -> Path:
    """responses.csv(.gz) -> responses.rejects.csv, in the same folder."""
    file = Path(path)
    base = file.name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        base = base.removesuffix(suffix)
    return file.with_name(f"{base or 'import'}.rejects.csv")


def run_import(
    engine: Engine,
    options: ImportOptions,
    *,
    business_timezone: str,
    stdin: BinaryIO | None = None,
    halt: threading.Event | None = None,
    now: datetime | None = None,
) -> ImportReport:
    started = time.monotonic()
    source = resolve_source(options)
    mapping = Mapping.parse(options.maps, options.sets)
    rejects_path = _rejects_path(options)
    ensure_migrated(engine)
    vocabulary = store.load_vocabulary(engine)
    halt = halt or threading.Event()
    # A file can be read twice: try the fast path, and redo it the careful way if two of its
    # rows share an external_id. Standard input can be read once: careful from the start.
    allow_direct = options.path != "-"
    while True:
        report = ImportReport(
            source, _display_name(options.path), options.file_format, options.dry_run
        )
        try:
            _import_once(
                engine,
                options,
                report,
                source=source,
                mapping=mapping,
                vocabulary=vocabulary,
                zone=ZoneInfo(business_timezone),
                now=now or datetime.now(UTC),
                stdin=stdin,
                halt=halt,
                rejects_path=rejects_path,
                allow_direct=allow_direct,
            )
        except DirectLoadClash:
            log.info(
                "import_restarted",
                reason="two rows share an external_id; checking the file the careful way to "
                "say which",
            )
            allow_direct = False
            continue
        break
    if not options.dry_run and report.imported + report.updated:
        report.unlabelled_comments = store.count_unclassified(engine)
    report.duration_s = round(time.monotonic() - started, 2)
    return report


def _import_once(
    engine: Engine,
    options: ImportOptions,
    report: ImportReport,
    *,
    source: str,
    mapping: Mapping,
    vocabulary: store.Vocabulary,
    zone: ZoneInfo,
    now: datetime,
    stdin: BinaryIO | None,
    halt: threading.Event,
    rejects_path: Path | None,
    allow_direct: bool,
) -> None:
    input_file = InputFile(options.path, stdin)
    rejects = RejectsFile(rejects_path) if rejects_path else None
    try:
        rows = records(input_file)
        layout = read_layout(options.file_format, rows, mapping, file_name=input_file.name)
        validator = RowValidator(
            layout,
            channels=vocabulary.channels,
            customer_types=vocabulary.customer_types,
            business_timezone=zone,
            now=now,
        )
        log.info(
            "import_started",
            source=source,
            file=report.file_name,
            format=options.file_format,
            bytes=input_file.size,
            compressed=input_file.compressed,
            dry_run=options.dry_run,
        )
        with ImportLoader(engine, source, uuid.uuid4(), allow_direct=allow_direct) as loader:
            problems = _read_and_stage(
                rows, input_file, layout, validator, loader, report, rejects, halt
            )
            problems += _leave_out_duplicates(loader, report, rejects, len(problems))
            for problem in problems:
                log.warning("row_invalid", line=problem.line, problem=problem.message)
            if report.rejected and not options.skip_invalid:
                hint = rejects_path or _rejects_hint(options)
                raise ImportRefused(_refusal(report, len(problems), hint))
            matches = loader.match_existing(MAX_SHOWN)
            report.already_present, report.changed = matches.already_present, matches.changed
            for change in matches.examples:
                log.warning("row_changed", **_change_fields(change, options.update))
            report.imported = loader.insert_new()
            if options.update:
                report.updated = loader.update_changed()
            loader.record(
                file_name=report.file_name,
                file_format=report.file_format,
                rows_read=report.rows_read,
                imported=report.imported,
                already_present=report.already_present,
                changed=report.changed,
                updated=report.updated,
                rejected=report.rejected,
                skipped=report.skipped,
            )
            if not options.dry_run:
                loader.commit()
        if rejects is not None:
            finished = rejects.finish()
            report.rejects_file = str(finished) if finished else None
            rejects = None
    finally:
        input_file.close()
        if rejects is not None:
            rejects.discard()


def ensure_migrated(engine: Engine) -> None:
    with engine.connect() as conn:
        ready = conn.execute(text("SELECT to_regclass('app.import_run') IS NOT NULL")).scalar()
    if not ready:
        raise ImportRefused(
            "this database is not ready for imports: run `python -m jobs migrate` first"
        )


def _read_and_stage(
    rows,
    input_file: InputFile,
    layout: Layout,
    validator: RowValidator,
    loader: ImportLoader,
    report: ImportReport,
    rejects: RejectsFile | None,
    halt: threading.Event,
) -> list[RowProblem]:
    """Streams the file into the database; returns the first MAX_SHOWN problems (logged by
    the caller once the file is through, so a restarted import does not list them twice)."""
    progress = ImportProgress(input_file.size)
    chunk: list[ImportRow] = []
    shown: list[RowProblem] = []
    for record in rows:
        report.rows_read += 1
        result = validator.check(record)
        if type(result) is ImportRow:
            chunk.append(result)
            if len(chunk) >= CHUNK_ROWS:
                loader.stage(chunk)
                chunk = []
                if halt.is_set():
                    raise JobInterrupted()
                if progress.due(input_file.position):
                    log.info("import_progress", **progress.fields(report.rows_read, input_file))
        elif type(result) is Skipped:
            report.skipped += 1
            report.skipped_reasons[result.reason] += 1
        else:
            report.invalid_rows += 1
            shown.extend(result[: MAX_SHOWN - len(shown)])
            if rejects is not None:
                rejects.add(record.line, result, _record_values(layout, record.fields))
    loader.stage(chunk)
    loader.finish_staging()
    log.info("import_progress", **progress.fields(report.rows_read, input_file, final=True))
    return shown


def _leave_out_duplicates(
    loader: ImportLoader, report: ImportReport, rejects: RejectsFile | None, shown: int
) -> list[RowProblem]:
    """External ids that appear more than once: every line holding one is refused (which of
    them is right cannot be known). Returns the problems to show, within MAX_SHOWN."""
    examples, rows = loader.duplicates(MAX_SHOWN)
    problems: list[RowProblem] = []
    if not rows:
        return problems
    report.duplicate_rows = rows
    for duplicate in examples:
        for line in duplicate.lines:
            if shown + len(problems) >= MAX_SHOWN:
                break
            others = ", ".join(str(other) for other in duplicate.lines if other != line)
            problems.append(_duplicate_problem(line, duplicate.external_id, others))
    if rejects is not None:
        for row, lines in loader.duplicate_rows():
            line, external_id = row[0], row[1]
            others = ", ".join(str(other) for other in lines if other != line)
            rejects.add(line, [_duplicate_problem(line, external_id, others)], _stored_values(row))
    loader.drop_duplicates()
    return problems


def _duplicate_problem(line: int, external_id: str, others: str) -> RowProblem:
    return RowProblem(
        line,
        "external_id",
        external_id,
        f"is also on line {others}; an external_id must be unique within the file",
    )


def _refusal(report: ImportReport, shown: int, rejects_path: str | Path) -> str:
    listed = f" (the first {shown} problems are listed above as row_invalid)" if shown else ""
    parts = []
    if report.invalid_rows:
        parts.append(f"{report.invalid_rows:,} of {report.rows_read:,} rows are invalid")
    if report.duplicate_rows:
        parts.append(f"{report.duplicate_rows:,} rows share their external_id with another row")
    return (
        f"refused: {' and '.join(parts)}{listed}; nothing was written. Fix the file and import "
        "it again, or load the valid rows with --skip-invalid (the rejected rows then go to "
        f"{rejects_path})"
    )


def _rejects_path(options: ImportOptions) -> Path | None:
    if not options.skip_invalid or options.dry_run:
        return None
    if options.rejects_file:
        return Path(options.rejects_file)
    if options.path == "-":
        raise ImportRefused("--skip-invalid on standard input needs --rejects-file PATH")
    return default_rejects_path(options.path)


def _rejects_hint(options: ImportOptions) -> str:
    if options.rejects_file:
        return options.rejects_file
    if options.path == "-":
        return "the file named by --rejects-file"
    return str(default_rejects_path(options.path))


def _display_name(path: str) -> str:
    return "-" if path == "-" else os.path.basename(path)


def _record_values(layout: Layout, fields: list[str]) -> list[str]:
    """Our fields of a record as the file has them (what can be found, for a short row)."""
    return [
        const if position is None else (fields[position] if position < len(fields) else "")
        for position, const in zip(layout.positions, layout.constants, strict=True)
    ]


def _stored_values(row: tuple) -> list[str]:
    """A staged row (line first) as our fields, as text."""
    values = []
    for value in row[1:]:
        if value is None:
            values.append("")
        elif isinstance(value, datetime):
            values.append(value.isoformat())
        else:
            values.append(str(value))
    return values


def _change_fields(change: Change, updating: bool) -> dict:
    def shown(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        return "empty" if value is None else str(value)

    described = [
        f"{column} changed"
        if column == "comment"
        else f"{column} {shown(change.stored[column])} -> {shown(change.in_file[column])}"
        for column in change.columns
    ]
    return {
        "line": change.line,
        "external_id": change.external_id,
        "changes": "; ".join(described),
        "detail": "updated (--update)" if updating else "not updated: run with --update to apply",
    }


class RejectsFile:
    """The rejected rows, with their line and problem, in our format's columns. Written to a
    temporary name and renamed at the end, so a killed import leaves no half file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        try:
            self._file = self.partial.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise ImportRefused(
                f"cannot write the rejects file {path}: {exc.strerror}; choose another place "
                "with --rejects-file"
            ) from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(["line", "problem", *FIELDS])
        self.rows = 0

    def add(self, line: int, problems: list[RowProblem], values: Sequence[str | None]) -> None:
        problem = "; ".join(p.message for p in problems)
        self._writer.writerow([line, problem, *(v or "" for v in values)])
        self.rows += 1

    def finish(self) -> Path | None:
        self._file.close()
        if not self.rows:
            self.partial.unlink(missing_ok=True)
            return None
        os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)


class ImportProgress:
    """When a progress line is due (every 5 s or 10 % of the file) and what it says: rows done,
    share of the file, rows/s and the ETA (by bytes, so it holds for any row length)."""

    def __init__(self, size: int | None, clock=time.monotonic) -> None:
        self.size = size
        self.clock = clock
        self.started = self._last_time = clock()
        self._last_position = 0

    def due(self, position: int) -> bool:
        now = self.clock()
        share = (position - self._last_position) / self.size if self.size else 0.0
        if now - self._last_time >= PROGRESS_EVERY_SECONDS or share >= PROGRESS_EVERY_SHARE:
            self._last_time, self._last_position = now, position
            return True
        return False

    def fields(self, rows: int, input_file: InputFile, *, final: bool = False) -> dict:
        elapsed = self.clock() - self.started
        position = self.size if final and self.size else input_file.position
        fields: dict = {
            "done": rows,
            "rows_per_s": round(rows / elapsed, 1) if elapsed > 0 else None,
            "elapsed_s": round(elapsed, 1),
        }
        if self.size:
            fields["percent"] = round(100.0 * min(position, self.size) / self.size, 1)
            rate = position / elapsed if elapsed > 0 else 0.0
            fields["eta_s"] = round((self.size - position) / rate, 1) if rate > 0 else None
        return fields


def summary_fields(report: ImportReport) -> dict:
    """The fields of the job_finished line of an import."""
    fields: dict = {
        "source": report.source,
        "file": report.file_name,
        "format": report.file_format,
        "rows": report.rows_read,
        "imported": report.imported,
        "already_present": report.already_present,
        "changed": report.changed,
        "updated": report.updated,
        "rejected": report.rejected,
        "skipped": report.skipped,
        "dry_run": report.dry_run,
        "duration_s": report.duration_s,
        "rows_per_s": round(report.rows_read / report.duration_s, 1) if report.duration_s else None,
    }
    if report.skipped_reasons:
        fields["skipped_reasons"] = dict(report.skipped_reasons)
    if report.rejects_file:
        fields["rejects_file"] = report.rejects_file
    if report.changed and not report.updated:
        fields["changed_detail"] = (
            "rows with a known external_id but other values were left as stored (listed above "
            "as row_changed); import again with --update to apply them"
        )
    if report.dry_run:
        fields["next"] = "nothing was written (--dry-run); run again without it to import"
    elif report.unlabelled_comments:
        fields["next"] = (
            f"`python -m jobs classify` labels the sentiment of the {report.unlabelled_comments:,}"
            " comments that have none yet"
        )
    return fields
