"""The refresh step: make sure the reporting rollup matches the raw responses, row by row.

Triggers keep reporting.daily_rollup current on every write, so normally there is nothing to do.
Drift comes from edits made with the triggers disabled, or a restore of one table without the
other; it can leave the grand totals intact (a row moved to another day and channel), so the
check compares every rollup row. Under a share lock on the responses (no load can slip in), and
inside a savepoint, the rollup is recomputed from the raw rows with the same SQL the triggers use
(reporting.rollup_upsert_sql) and the two row sets are compared whole: every column but
updated_at, matched on the table's primary key as read from the catalog, so a key column added
later is compared too. Unchanged: the savepoint is rolled back and the rollup is left as it was.
Drifted: the recomputed rows are kept and the drift is logged. Readers are not blocked meanwhile
(DELETE, not TRUNCATE, inside the savepoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection, Engine, text

log = structlog.get_logger("jobs.refresh")

ROLLUP = "reporting.daily_rollup"
_NOT_COMPARED = {"updated_at"}  # when a row was last touched, not what it counts
_EXAMPLES = 5  # drifted keys shown in the log line

_KEY_COLUMNS_SQL = text(
    "SELECT a.attname FROM pg_index i "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
    "WHERE i.indrelid = CAST(:table AS regclass) AND i.indisprimary "
    "ORDER BY array_position(CAST(i.indkey AS smallint[]), a.attnum)"
)
_ROLLUP_ROWS_SQL = text(f"SELECT * FROM {ROLLUP}")  # noqa: S608 - a constant name
_RECOMPUTE_SQL = text(
    f"DELETE FROM {ROLLUP};"  # noqa: S608 - a constant name
    "DO $$ BEGIN EXECUTE reporting.rollup_upsert_sql("
    "'SELECT *, 1 AS sign FROM app.survey_response'); END $$"
)

RollupRows = dict[tuple, dict[str, object]]


@dataclass(frozen=True)
class RefreshReport:
    rebuilt: bool
    rollup_rows: int
    drifted_keys: int


def refresh_reporting(engine: Engine) -> RefreshReport:
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE app.survey_response IN SHARE MODE"))
        key_columns = conn.execute(_KEY_COLUMNS_SQL, {"table": ROLLUP}).scalars().all()
        current = _rollup_rows(conn, key_columns)
        recomputation = conn.begin_nested()
        conn.execute(_RECOMPUTE_SQL)
        expected = _rollup_rows(conn, key_columns)
        drifted = drifted_keys(current, expected)
        if drifted:
            recomputation.commit()  # keep the rows recomputed from the raw responses
        else:
            recomputation.rollback()  # nothing to repair: leave the rollup untouched
    # Every load rewrites the same rollup rows; clear their dead versions and refresh the
    # planner's statistics now rather than waiting for autovacuum (a few thousand rows).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {ROLLUP}"))
    if drifted:
        log.warning(
            "reporting_rebuilt",
            reason="rollup rows drifted from the raw rows",
            keys_drifted=len(drifted),
            drifted=_total_drift(current, expected),
            examples=[
                _describe(key_columns, key, current, expected) for key in drifted[:_EXAMPLES]
            ],
        )
    log.info(
        "reporting_checked",
        rollup_rows=len(expected),
        rebuilt=bool(drifted),
        keys_drifted=len(drifted),
    )
    return RefreshReport(bool(drifted), len(expected), len(drifted))


def _rollup_rows(conn: Connection, key_columns: list[str]) -> RollupRows:
    """Every rollup row, keyed by its primary key, with the columns that are compared."""
    rows = {}
    for row in conn.execute(_ROLLUP_ROWS_SQL).mappings():
        key = tuple(row[column] for column in key_columns)
        rows[key] = {
            column: value
            for column, value in row.items()
            if column not in key_columns and column not in _NOT_COMPARED
        }
    return rows


def drifted_keys(current: RollupRows, expected: RollupRows) -> list[tuple]:
    """Keys whose row differs, is missing, or should not be there (sorted, for stable logs)."""
    keys = current.keys() | expected.keys()
    return sorted((key for key in keys if current.get(key) != expected.get(key)), key=repr)


def _total_drift(current: RollupRows, expected: RollupRows) -> dict[str, dict[str, int]]:
    """The counters whose grand totals differ (empty when rows only moved between keys)."""
    totals = {}
    for name, rows in (("raw", expected), ("rollup", current)):
        for row in rows.values():
            for column, value in row.items():
                if isinstance(value, int):
                    totals.setdefault(column, {"raw": 0, "rollup": 0})[name] += value
    return {column: sums for column, sums in totals.items() if sums["raw"] != sums["rollup"]}


def _describe(
    key_columns: list[str], key: tuple, current: RollupRows, expected: RollupRows
) -> dict[str, object]:
    """One drifted key for the log: the columns that differ, as the raw rows and the rollup
    give them (None: no such row)."""
    raw: Mapping[str, object] | None = expected.get(key)
    rollup: Mapping[str, object] | None = current.get(key)
    columns = sorted((raw or {}).keys() | (rollup or {}).keys())
    differing = [c for c in columns if (raw or {}).get(c) != (rollup or {}).get(c)]
    return {
        "key": {column: str(value) for column, value in zip(key_columns, key, strict=True)},
        "raw": None if raw is None else {c: raw[c] for c in differing},
        "rollup": None if rollup is None else {c: rollup[c] for c in differing},
    }
