"""The refresh step: make sure the reporting layer matches the raw responses.

Triggers keep reporting.daily_rollup current on every write, so normally there is nothing to
do. The check is cheap: one pass that totals every rollup counter over the raw rows, compared
with the same totals of the rollup (a few thousand rows). Only when they differ (someone edited
a table with the triggers disabled, or restored one without the other) is the rollup rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import structlog
from sqlalchemy import Engine, text

from npscsat.metrics import Totals

log = structlog.get_logger("jobs.refresh")

# Raw-row expressions of every rollup counter, matched to Totals' fields by name.
_RAW_TOTALS = {
    "responses": "count(*)",
    "promoters": "count(*) FILTER (WHERE nps_category = 'promoter')",
    "passives": "count(*) FILTER (WHERE nps_category = 'passive')",
    "detractors": "count(*) FILTER (WHERE nps_category = 'detractor')",
    "nps_sum": "coalesce(sum(nps_score), 0)",
    "csat_count": "count(csat_score)",
    "csat_sum": "coalesce(sum(csat_score), 0)",
    "csat_satisfied": "count(*) FILTER (WHERE csat_score >= 4)",
    "sentiment_positive": "count(*) FILTER (WHERE sentiment = 'positive')",
    "sentiment_neutral": "count(*) FILTER (WHERE sentiment = 'neutral')",
    "sentiment_negative": "count(*) FILTER (WHERE sentiment = 'negative')",
}
# Composed from the constant expressions above only; nothing here comes from input.
_RAW_COLUMNS = ", ".join(f"{sql} AS {name}" for name, sql in _RAW_TOTALS.items())
_ROLLUP_COLUMNS = ", ".join(f"coalesce(sum({name}), 0) AS {name}" for name in _RAW_TOTALS)
_RAW_SQL = text(f"SELECT {_RAW_COLUMNS} FROM app.survey_response")  # noqa: S608
_ROLLUP_SQL = text(f"SELECT {_ROLLUP_COLUMNS} FROM reporting.daily_rollup")  # noqa: S608


@dataclass(frozen=True)
class RefreshReport:
    raw: Totals
    rollup_before: Totals
    rebuilt: bool
    rollup_rows: int


def refresh_reporting(engine: Engine) -> RefreshReport:
    with engine.begin() as conn:
        # Share mode: no load can slip in between the two totals (or during a rebuild).
        conn.execute(text("LOCK TABLE app.survey_response IN SHARE MODE"))
        raw = Totals.from_mapping(conn.execute(_RAW_SQL).mappings().one())
        rollup = Totals.from_mapping(conn.execute(_ROLLUP_SQL).mappings().one())
        rebuilt = raw != rollup
        if rebuilt:
            conn.execute(text("SELECT reporting.rebuild_daily_rollup()"))
        rows = conn.execute(text("SELECT count(*) FROM reporting.daily_rollup")).scalar_one()
    # Every load rewrites the same rollup rows; clear their dead versions and refresh the
    # planner's statistics now rather than waiting for autovacuum (a few thousand rows).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) reporting.daily_rollup"))
    if rebuilt:
        drifted = {
            f.name: {"raw": getattr(raw, f.name), "rollup": getattr(rollup, f.name)}
            for f in fields(Totals)
            if getattr(raw, f.name) != getattr(rollup, f.name)
        }
        log.warning("reporting_rebuilt", reason="rollup drifted from raw rows", drifted=drifted)
    log.info("reporting_checked", responses=raw.responses, rollup_rows=rows, rebuilt=rebuilt)
    return RefreshReport(raw, rollup, rebuilt, rows)
