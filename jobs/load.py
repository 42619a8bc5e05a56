"""Bulk loading of checked records.

A write is one transaction: the rows go into app.survey_response, and the run's counters in
app.job_run move with them. Either all of it lands or none of it: there is never a half-written
batch. The fast path COPYs straight into the table inside a savepoint; the planned slots are
free (the run holds the job's advisory lock), so that is the normal case. If a slot was filled
meanwhile anyway (a row loaded by other means), the UNIQUE key refuses the COPY, the savepoint
is rolled back, and the batch goes the careful way: COPY into a session-local staging table,
then INSERT ... ON CONFLICT (generator_slot) DO NOTHING. Either way the table can never hold a
slot twice or go past the target.

The BackgroundWriter does this on its own thread and connection while the workers keep asking
the model. Batches that queue up during a write go into the next transaction together (group
commit): a batch is never split, and when the model is fast, transactions grow to amortise their
fixed cost, which is what makes the instant-model benchmark go fast.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import uuid
from collections.abc import Callable, Sequence

import psycopg2
import structlog
from sqlalchemy import Engine

from jobs.records import ResponseRow
from npscsat.errors import DatabaseUnavailable, NpscsatError

log = structlog.get_logger("jobs.load")
GROUP_COMMIT_MAX_ROWS = 5_000  # beyond this, bigger transactions stopped paying off here

_STAGING_DDL = """
    CREATE TEMPORARY TABLE IF NOT EXISTS response_staging (
        generator_slot integer NOT NULL,
        responded_at   timestamptz NOT NULL,
        channel        text NOT NULL,
        customer_type  text NOT NULL,
        nps_score      smallint NOT NULL,
        csat_score     smallint,
        comment        text,
        run_id         uuid
    ) ON COMMIT DELETE ROWS
"""
_INSERT = """
    INSERT INTO app.survey_response
        (generator_slot, responded_at, channel, customer_type, nps_score, csat_score, comment,
         run_id)
    SELECT generator_slot, responded_at, channel, customer_type, nps_score, csat_score, comment,
           run_id
      FROM response_staging
     ORDER BY generator_slot
    ON CONFLICT (generator_slot) DO NOTHING
"""
_COPY_DIRECT = (
    "COPY app.survey_response (generator_slot, responded_at, channel, customer_type, nps_score,"
    " csat_score, comment, run_id) FROM STDIN"
)
_COPY_STAGING = (
    "COPY response_staging (generator_slot, responded_at, channel, customer_type, nps_score,"
    " csat_score, comment, run_id) FROM STDIN"
)
_COUNTERS = """
    UPDATE app.job_run
       SET written = written + %(inserted)s, dropped = %(dropped)s, retries = %(retries)s
     WHERE run_id = %(run_id)s
"""
# COPY's text format: backslash escapes for the characters that delimit fields and rows.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


class LoadError(NpscsatError):
    """PostgreSQL refused a batch; nothing of it was written."""


def copy_text(rows: Sequence[ResponseRow], run_id: str | None = None) -> str:
    """The rows in COPY text format, one line each (one f-string a row: this runs 100,000s of
    times in the benchmark). Integers are ints by construction; text is escaped; the run id
    (a UUID, nothing to escape) ends every line."""
    run = _NULL if run_id is None else run_id
    return "".join(
        f"{slot}\t{at.isoformat()}\t{channel.translate(_COPY_ESCAPES)}\t"
        f"{kind.translate(_COPY_ESCAPES)}\t{nps}\t{_NULL if csat is None else csat}\t"
        f"{_NULL if comment is None else comment.translate(_COPY_ESCAPES)}\t{run}\n"
        for slot, at, channel, kind, nps, csat, comment in rows
    )


class ResponseLoader:
    """Writes batches of rows on one connection, one transaction per call."""

    def __init__(self, engine: Engine, run_id: uuid.UUID | None) -> None:
        self.run_id = str(run_id) if run_id else None
        self.connection = engine.raw_connection()

    def write(self, rows: Sequence[ResponseRow], *, dropped: int = 0, retries: int = 0) -> int:
        """Inserts the rows not already present; returns how many were new."""
        if not rows:
            return 0
        try:
            with self.connection.cursor() as cur:
                data = copy_text(rows, self.run_id)
                inserted = self._copy_direct(cur, data, len(rows))
                if inserted is None:
                    inserted = self._copy_through_staging(cur, data)
                if self.run_id:
                    cur.execute(
                        _COUNTERS,
                        {
                            "run_id": self.run_id,
                            "inserted": inserted,
                            "dropped": dropped,
                            "retries": retries,
                        },
                    )
            self.connection.commit()
        except psycopg2.OperationalError as exc:
            self._rollback()
            raise DatabaseUnavailable(
                f"lost the database while writing {len(rows)} responses (nothing of that batch "
                f"was written): {str(exc).strip().splitlines()[0]}"
            ) from None
        except psycopg2.Error as exc:
            self._rollback()
            raise LoadError(
                f"PostgreSQL refused a batch of {len(rows)} responses (slots "
                f"{rows[0].generator_slot}..{rows[-1].generator_slot}); nothing of it was "
                f"written: {(exc.pgerror or str(exc)).strip()}"
            ) from None
        return inserted

    def _copy_direct(self, cur, data: str, count: int) -> int | None:
        """COPY straight into the table; None (and nothing written) if a slot was taken."""
        cur.execute("SAVEPOINT direct_copy")
        try:
            _copy(cur, _COPY_DIRECT, data)
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT direct_copy")
            return None
        cur.execute("RELEASE SAVEPOINT direct_copy")
        return count

    def _copy_through_staging(self, cur, data: str) -> int:
        """The careful path: stage, then insert only the slots still free."""
        cur.execute(_STAGING_DDL)  # IF NOT EXISTS: a no-op after the first time
        _copy(cur, _COPY_STAGING, data)
        cur.execute(_INSERT)
        return cur.rowcount

    def _rollback(self) -> None:
        with contextlib.suppress(psycopg2.Error):  # the connection may be gone; close() cleans up
            self.connection.rollback()

    def close(self) -> None:
        self.connection.close()


def _copy(cur, statement: str, data: str) -> None:
    # One read of the whole buffer: psycopg2 otherwise reads 8 KB at a time, and each read must
    # win the GIL back from the validating thread (up to 5 ms each).
    cur.copy_expert(statement, io.StringIO(data), size=len(data) + 1)


_STOP = object()


class BackgroundWriter:
    """Takes batches from the workers and writes them on its own thread (group commit)."""

    def __init__(
        self,
        loader: ResponseLoader,
        *,
        counters: Callable[[], tuple[int, int]] = lambda: (0, 0),
        on_written: Callable[[int], None] = lambda inserted: None,
        max_rows: int = GROUP_COMMIT_MAX_ROWS,
    ) -> None:
        self.loader = loader
        self.counters = counters  # (dropped, retries) of the run, stored with every write
        self.on_written = on_written
        self.max_rows = max_rows
        self.inserted = 0
        self.transactions = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="response-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[ResponseRow]) -> None:
        self.raise_if_failed()
        if rows:
            self._queue.put(list(rows))

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Writes everything submitted so far, then stops; raises the writer's error if any."""
        self._queue.put(_STOP)
        self._thread.join()
        self.raise_if_failed()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                return
            rows = list(item)
            while len(rows) < self.max_rows:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                rows.extend(more)
            if self.error is not None:
                continue  # keep draining so close() never blocks; nothing more is written
            try:
                dropped, retries = self.counters()
                inserted = self.loader.write(rows, dropped=dropped, retries=retries)
            except BaseException as exc:  # handed to the main thread
                self.error = exc
                continue
            self.inserted += inserted
            self.transactions += 1
            self.on_written(inserted)
