"""The database side of an import: one transaction, so an import lands whole or not at all.

The fast path, for a file whose source holds no rows yet: the valid rows are COPYed straight
into app.survey_response, chunk by chunk while the file is read, on a background thread (so
reading and loading overlap). Nothing can clash but two rows of the file with one external_id;
the unique index refuses that, and the caller redoes the import the careful way, which says
which lines. The careful way (a source that has rows, or standard input, which cannot be read
twice):
1. The valid rows are COPYed, chunk by chunk while the file is read, into a session-local
   staging table (on the background thread as well).
2. Duplicates inside the file are found there (GROUP BY external_id), reported and left out.
3. Rows whose (source, external_id) already exists are compared with what is stored:
   identical ones are "already present", others "changed" (updated only with --update).
4. The new rows go into app.survey_response in one INSERT ... SELECT: the rollup trigger runs
   once for the whole file.
A killed import (even SIGKILL) leaves nothing behind: PostgreSQL rolls the transaction back
when the connection drops, and the next run starts from scratch.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psycopg2
from sqlalchemy import Engine

from jobs.importing.reader import ImportRefused
from jobs.importing.validate import ImportRow
from npscsat.errors import DatabaseUnavailable, NpscsatError

_LOCK_KEY = 7_311_028  # pg_advisory_xact_lock(key, hashtext(source)): one import per source
_COLUMNS = "line, external_id, responded_at, channel, customer_type, nps_score, csat_score, comment"
_STAGING_DDL = """
    CREATE TEMPORARY TABLE import_staging (
        line          integer NOT NULL,
        external_id   text NOT NULL,
        responded_at  timestamptz NOT NULL,
        channel       text NOT NULL,
        customer_type text NOT NULL,
        nps_score     smallint,
        csat_score    smallint,
        comment       text
    ) ON COMMIT DROP
"""
_COPY = f"COPY import_staging ({_COLUMNS}) FROM STDIN"
_COPY_DIRECT = (
    "COPY app.survey_response (source, external_id, responded_at, channel, customer_type, "
    "nps_score, csat_score, comment, run_id) FROM STDIN"
)
_DUPLICATES = """
    CREATE TEMPORARY TABLE import_duplicate ON COMMIT DROP AS
    SELECT external_id, array_agg(line ORDER BY line) AS lines
      FROM import_staging GROUP BY external_id HAVING count(*) > 1
"""
_DATA_COLUMNS = ("responded_at", "channel", "customer_type", "nps_score", "csat_score", "comment")
_CHANGED = ", ".join(
    f"CASE WHEN r.{c}::text IS DISTINCT FROM s.{c}::text THEN '{c}' END" for c in _DATA_COLUMNS
)
_MATCH = f"""
    CREATE TEMPORARY TABLE import_match ON COMMIT DROP AS
    SELECT s.line, r.id AS response_id, array_remove(ARRAY[{_CHANGED}], NULL) AS changed
      FROM import_staging s
      JOIN app.survey_response r
        ON r.source = %(source)s AND r.external_id = s.external_id
"""  # noqa: S608 - composed from the constant column names above
_INSERT = """
    INSERT INTO app.survey_response
        (source, external_id, responded_at, channel, customer_type, nps_score, csat_score,
         comment, run_id)
    SELECT %(source)s, s.external_id, s.responded_at, s.channel, s.customer_type, s.nps_score,
           s.csat_score, s.comment, %(run)s
      FROM import_staging s
     WHERE NOT EXISTS (SELECT 1 FROM import_match m WHERE m.line = s.line)
    ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING
"""
# A changed comment loses its sentiment label: the classify step labels the new text.
_UPDATE = """
    UPDATE app.survey_response r
       SET responded_at = s.responded_at, channel = s.channel, customer_type = s.customer_type,
           nps_score = s.nps_score, csat_score = s.csat_score, comment = s.comment,
           sentiment = CASE WHEN r.comment IS DISTINCT FROM s.comment THEN NULL
                            ELSE r.sentiment END,
           run_id = %(run)s
      FROM import_match m JOIN import_staging s ON s.line = m.line
     WHERE r.id = m.response_id AND cardinality(m.changed) > 0
"""
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
CHUNK_ROWS = 20_000  # rows a COPY; bigger chunks stopped paying off here
_QUEUED_CHUNKS = 2  # bounds memory: chunks waiting for the writer thread


class ImportFailed(NpscsatError):
    """PostgreSQL refused the import; nothing of it was written."""


class DirectLoadClash(Exception):
    """The fast path met an external_id twice in the file: redo the import the careful way."""


@dataclass(frozen=True)
class Duplicate:
    external_id: str
    lines: list[int]


@dataclass(frozen=True)
class Change:
    line: int
    external_id: str
    columns: list[str]
    stored: dict[str, object]
    in_file: dict[str, object]


@dataclass(frozen=True)
class Matches:
    already_present: int
    changed: int
    examples: list[Change]


def copy_text(rows: Sequence[ImportRow]) -> str:
    """The rows in COPY text format for the staging table (one f-string a row: this runs a
    million times). Codes and numbers need no escaping; the id and the comment do."""
    null = _NULL
    escapes = _COPY_ESCAPES
    return "".join(
        f"{line}\t{external_id.translate(escapes)}\t{at.isoformat()}\t{channel}\t{kind}\t"
        f"{null if nps is None else nps}\t{null if csat is None else csat}\t"
        f"{null if comment is None else comment.translate(escapes)}\n"
        for line, external_id, at, channel, kind, nps, csat, comment in rows
    )


def copy_text_direct(rows: Sequence[ImportRow], source: str, run_id: str) -> str:
    """The rows in COPY text format for app.survey_response itself (the fast path)."""
    null = _NULL
    escapes = _COPY_ESCAPES
    return "".join(
        f"{source}\t{external_id.translate(escapes)}\t{at.isoformat()}\t{channel}\t{kind}\t"
        f"{null if nps is None else nps}\t{null if csat is None else csat}\t"
        f"{null if comment is None else comment.translate(escapes)}\t{run_id}\n"
        for _, external_id, at, channel, kind, nps, csat, comment in rows
    )


class ImportLoader:
    """One import's transaction. Use as a context manager; commit() or it rolls back."""

    def __init__(
        self, engine: Engine, source: str, import_id: uuid.UUID, *, allow_direct: bool = False
    ) -> None:
        self.source = source
        self.import_id = str(import_id)
        self.allow_direct = allow_direct
        self.direct = False  # decided under the lock, in __enter__
        self.connection = engine.raw_connection()
        self._queue: queue.Queue = queue.Queue(maxsize=_QUEUED_CHUNKS)
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None
        self.staged = 0
        self.source_had_rows = False
        self._matched = False

    def __enter__(self) -> ImportLoader:
        try:
            self._begin()
        except BaseException:
            self.connection.rollback()
            self.connection.close()
            raise
        self._writer = threading.Thread(target=self._write, name="import-staging", daemon=True)
        self._writer.start()
        return self

    def _begin(self) -> None:
        with self._errors("starting the import"), self.connection.cursor() as cur:
            cur.execute(
                "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_KEY, self.source)
            )
            if not cur.fetchone()[0]:
                raise ImportRefused(
                    f"another import into {self.source} is running; run this one when it ends"
                )
            cur.execute("SET LOCAL work_mem = '64MB'")  # the duplicate check's hash table
            cur.execute(_STAGING_DDL)
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM app.survey_response "
                "WHERE source = %s AND external_id IS NOT NULL)",
                (self.source,),
            )
            self.source_had_rows = cur.fetchone()[0]
        self.direct = self.allow_direct and not self.source_had_rows

    def __exit__(self, *exc_info) -> None:
        self._stop_writer()
        with contextlib.suppress(psycopg2.Error):
            self.connection.rollback()  # a no-op after commit()
        self.connection.close()

    # --- 1. staging, while the file is read -----------------------------------------------

    def stage(self, rows: Sequence[ImportRow]) -> None:
        """Queues rows for loading (blocks while two chunks are waiting)."""
        self._raise_writer_error()
        if rows:
            data = (
                copy_text_direct(rows, self.source, self.import_id)
                if self.direct
                else copy_text(rows)
            )
            self._queue.put(data)
            self.staged += len(rows)

    def _write(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is not None:
                continue  # keep draining so stage() never blocks forever
            statement = _COPY_DIRECT if self.direct else _COPY
            try:
                with self.connection.cursor() as cur:
                    cur.copy_expert(statement, io.StringIO(data), size=len(data) + 1)
            except BaseException as exc:  # handed to the reading thread
                self._error = exc

    def finish_staging(self) -> None:
        self._stop_writer()
        self._raise_writer_error()

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            if self.direct and isinstance(error, psycopg2.errors.UniqueViolation):
                raise DirectLoadClash() from None
            with self._errors("loading the rows"):
                raise error

    # --- 2. duplicates inside the file ------------------------------------------------------

    def duplicates(self, limit: int) -> tuple[list[Duplicate], int]:
        """The first `limit` external ids that appear more than once (by first line), and how
        many rows of the file carry a duplicated id."""
        if self.direct:
            return [], 0  # the unique index saw every row: there is none
        with self._errors("checking for duplicates"), self.connection.cursor() as cur:
            cur.execute(_DUPLICATES)
            cur.execute(
                "SELECT external_id, lines FROM import_duplicate ORDER BY lines[1] LIMIT %s",
                (limit,),
            )
            examples = [Duplicate(external_id, list(lines)) for external_id, lines in cur]
            cur.execute("SELECT coalesce(sum(cardinality(lines)), 0) FROM import_duplicate")
            rows = int(cur.fetchone()[0])
        return examples, rows

    def duplicate_rows(self) -> Iterator[tuple[tuple, list[int]]]:
        """Every staged row with a duplicated id and the lines sharing it, by line (for the
        rejects file), streamed."""
        with (
            self._errors("reading the duplicates"),
            self.connection.cursor(name="import_duplicates") as cur,
        ):
            cur.itersize = 5_000
            cur.execute(
                f"SELECT {_COLUMNS}, d.lines FROM import_staging "  # noqa: S608 - constants
                "JOIN import_duplicate d USING (external_id) ORDER BY line"
            )
            for row in cur:
                yield row[:-1], list(row[-1])

    def drop_duplicates(self) -> int:
        with self._errors("leaving out the duplicates"), self.connection.cursor() as cur:
            cur.execute(
                "DELETE FROM import_staging s USING import_duplicate d "
                "WHERE s.external_id = d.external_id"
            )
            self.staged -= cur.rowcount
            return cur.rowcount

    # --- 3. rows that already exist ----------------------------------------------------------

    def match_existing(self, limit: int) -> Matches:
        """Compares the staged rows with the stored rows of the same (source, external_id)."""
        if self.direct:
            return Matches(0, 0, [])  # the source had no rows
        with self._errors("comparing with the stored rows"), self.connection.cursor() as cur:
            cur.execute(
                "CREATE TEMPORARY TABLE import_match (line integer, response_id bigint, "
                "changed text[]) ON COMMIT DROP"
                if not self.source_had_rows
                else _MATCH,
                {"source": self.source},
            )
            self._matched = True
            if not self.source_had_rows:
                return Matches(0, 0, [])
            cur.execute(
                "SELECT count(*) FILTER (WHERE cardinality(changed) = 0), "
                "count(*) FILTER (WHERE cardinality(changed) > 0) FROM import_match"
            )
            present, changed = cur.fetchone()
            stored = ", ".join(f"r.{c}" for c in _DATA_COLUMNS)
            in_file = ", ".join(f"s.{c}" for c in _DATA_COLUMNS)
            cur.execute(
                f"SELECT m.line, s.external_id, m.changed, {stored}, {in_file} "  # noqa: S608
                "FROM import_match m JOIN import_staging s ON s.line = m.line "
                "JOIN app.survey_response r ON r.id = m.response_id "
                "WHERE cardinality(m.changed) > 0 ORDER BY m.line LIMIT %s",
                (limit,),
            )
            width = len(_DATA_COLUMNS)
            examples = [
                Change(
                    row[0],
                    row[1],
                    list(row[2]),
                    dict(zip(_DATA_COLUMNS, row[3 : 3 + width], strict=True)),
                    dict(zip(_DATA_COLUMNS, row[3 + width :], strict=True)),
                )
                for row in cur
            ]
        return Matches(int(present), int(changed), examples)

    # --- 4. writing ---------------------------------------------------------------------------

    def insert_new(self) -> int:
        if self.direct:
            return self.staged  # already in the table
        if not self._matched:
            self.match_existing(0)
        with self._errors("loading the rows"), self.connection.cursor() as cur:
            cur.execute(_INSERT, {"source": self.source, "run": self.import_id})
            return cur.rowcount

    def update_changed(self) -> int:
        if self.direct:
            return 0
        with self._errors("updating the changed rows"), self.connection.cursor() as cur:
            cur.execute(_UPDATE, {"run": self.import_id})
            return cur.rowcount

    def record(self, **counts: object) -> None:
        with self._errors("recording the import"), self.connection.cursor() as cur:
            cur.execute(
                "INSERT INTO app.import_run (import_id, source, file_name, file_format, "
                "rows_read, imported, already_present, changed, updated, rejected, skipped) "
                "VALUES (%(import_id)s, %(source)s, %(file_name)s, %(file_format)s, "
                "%(rows_read)s, %(imported)s, %(already_present)s, %(changed)s, %(updated)s, "
                "%(rejected)s, %(skipped)s)",
                {"import_id": self.import_id, "source": self.source, **counts},
            )

    def commit(self) -> None:
        with self._errors("committing"):
            self.connection.commit()

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailable(
                f"lost the database while {doing} (nothing of this import was written): "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            ) from None
        except psycopg2.Error as exc:
            raise ImportFailed(
                f"PostgreSQL refused the import while {doing}; nothing was written: "
                f"{(exc.pgerror or str(exc)).strip()}"
            ) from None
