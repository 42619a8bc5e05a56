"""Reporting-layer benchmark (issue 2): prints figures, asserts nothing about the machine.

    uv run python -m benchmarks.bench_reporting [--rows 1000000]

In one run, on a throwaway database (same server choice as the tests, see testkit/pg.py):
1. load rate: N rows by COPY in 10,000-row statements, with the rollup triggers on versus off
   (bare COPY into the same table and indexes);
2. one dashboard filter change (KPIs + weekly series + per-channel totals for the last 90 days
   and three channels; every source, as in issue 2, then the real sources only, the page's
   default once a team has imported its responses) answered from the rollup, versus loading
   the same rows into pandas and computing the same figures there; at 10 % of N and at N rows,
   to show the rollup stays flat.

The rows come from three sources (60 % generated demo data, 30 % an import, 10 % survey
answers; some real ones CSAT-only), so the rollup carries the source as a dimension, as it does
once a team has loaded its own responses.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from dataclasses import replace
from datetime import timedelta

import pandas as pd
from sqlalchemy import text

from benchmarks.synthetic import COLUMNS, SOURCE_MIX, now_utc, responses_tsv
from jobs.migrate import run_migrate
from npscsat import reporting as q
from npscsat.db import create_db_engine
from testkit.pg import admin_server, throwaway_database

CHUNK = 10_000
DAYS = 365
FILTER_CHANNELS = ("phone", "chat", "whatsapp")
FILTER_SOURCES = ("import:zendesk", "survey")  # the dashboard's default once real data exists


def copy_rows(engine, tsv: str, *, rollup: bool) -> float:
    """COPY the rows in CHUNK-row statements; returns rows per second."""
    lines = tsv.splitlines(keepends=True)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            if not rollup:
                cur.execute("ALTER TABLE app.survey_response DISABLE TRIGGER USER")
            raw.commit()
            started = time.perf_counter()
            for i in range(0, len(lines), CHUNK):
                cur.copy_expert(
                    f"COPY app.survey_response {COLUMNS} FROM STDIN",
                    io.StringIO("".join(lines[i : i + CHUNK])),
                )
                raw.commit()
            elapsed = time.perf_counter() - started
            cur.execute("ALTER TABLE app.survey_response ENABLE TRIGGER USER")
            raw.commit()
    finally:
        raw.close()
    return len(lines) / elapsed


def vacuum_analyze(engine) -> None:
    """What the job's refresh step does after a load: fresh statistics, dead versions gone."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) reporting.daily_rollup, app.survey_response"))


def truncate(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE app.survey_response"))


def filter_change_from_rollup(conn, selection: q.ReportFilter) -> tuple:
    """KPIs, weekly series and per-channel totals: one grouping-sets query, as the page does."""
    breakdown = q.fetch_breakdown(conn, selection, "week")
    totals = breakdown.totals
    return totals.nps, totals.csat_pct, len(breakdown.series), len(breakdown.by_channel)


def filter_change_in_pandas(conn, selection: q.ReportFilter) -> tuple:
    frame = pd.read_sql(
        text(
            "SELECT responded_at, channel, customer_type, nps_score, csat_score "
            "FROM app.survey_response "
            "WHERE (responded_at AT TIME ZONE 'UTC')::date BETWEEN :start AND :end "
            "AND channel = ANY(:channels) "
            "AND (CAST(:sources AS text[]) IS NULL OR source = ANY(CAST(:sources AS text[])))"
        ),
        conn,
        params={
            "start": selection.start,
            "end": selection.end,
            "channels": list(selection.channels),
            "sources": list(selection.sources) if selection.sources else None,
        },
    )
    frame["promoter"] = frame.nps_score >= 9
    frame["detractor"] = frame.nps_score <= 6
    frame["satisfied"] = frame.csat_score >= 4
    frame["week"] = (
        frame.responded_at.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("W-SUN")
    )

    def figures(group):
        answered = group.nps_score.notna().sum()  # NPS has its own n: CSAT-only rows out
        return pd.Series(
            {
                "n": len(group),
                "nps": 100 * (group.promoter.sum() - group.detractor.sum()) / answered,
                "csat": 100 * group.satisfied.sum() / group.csat_score.notna().sum(),
            }
        )

    totals = figures(frame)
    weekly = frame.groupby("week").apply(figures, include_groups=False)
    by_channel = frame.groupby("channel").apply(figures, include_groups=False)
    return totals.nps, totals.csat, len(weekly), len(by_channel), len(frame)


def timed(function, *args, repeat: int) -> tuple[float, tuple]:
    """Median wall time in seconds over `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    small = rows // 10
    end = now_utc()
    print(f"generating {rows:,} synthetic responses over {DAYS} days ...", flush=True)
    tsv = responses_tsv(rows, first_slot=1, end=end, days=DAYS, seed=42, sources=SOURCE_MIX)
    lines = tsv.splitlines(keepends=True)

    with admin_server() as admin, throwaway_database(admin, prefix="npscsat_bench") as database:
        engine = create_db_engine(database.url, application_name="npscsat-bench")
        run_migrate(engine, business_timezone="UTC", dashboard_role="", dashboard_password=None)

        bare = copy_rows(engine, tsv, rollup=False)
        truncate(engine)
        with_rollup = copy_rows(engine, tsv, rollup=True)
        truncate(engine)
        print(f"\nload {rows:,} rows, COPY in {CHUNK:,}-row statements")
        print(f"  bare COPY (triggers off)      {bare:12,.0f} rows/s")
        print(f"  COPY with the rollup current  {with_rollup:12,.0f} rows/s")
        print(f"  ratio                         {with_rollup / bare:12.2f}  (bar: >= 0.50)")

        last_day = end.date()
        every_source = q.ReportFilter(
            last_day - timedelta(days=89), last_day, channels=FILTER_CHANNELS
        )
        selections = {
            "every source": every_source,
            f"sources {', '.join(FILTER_SOURCES)}": replace(every_source, sources=FILTER_SOURCES),
        }
        print(
            f"\none filter change: last 90 days, channels {', '.join(FILTER_CHANNELS)}; KPIs + "
            "weekly series + per-channel totals"
        )
        loaded = 0
        for target in (small, rows):
            copy_rows(engine, "".join(lines[loaded:target]), rollup=True)
            loaded = target
            vacuum_analyze(engine)
            with engine.connect() as conn:
                rollup_rows = conn.execute(text("SELECT count(*) FROM reporting.daily_rollup"))
                rollup_rows = rollup_rows.scalar_one()
                for name, selection in selections.items():
                    measure(conn, selection, f"{target:>9,} rows, {name}:")
            print(f"  (the rollup holds {rollup_rows:,} rows at {target:,} responses)")
        engine.dispose()


def measure(conn, selection: q.ReportFilter, title: str) -> None:
    rollup_s, rollup_result = timed(filter_change_from_rollup, conn, selection, repeat=21)
    pandas_s, pandas_result = timed(filter_change_in_pandas, conn, selection, repeat=3)
    assert abs(rollup_result[0] - pandas_result[0]) < 1e-6, (rollup_result, pandas_result)
    assert rollup_result[2:4] == pandas_result[2:4], (rollup_result, pandas_result)
    print(
        f"  {title:<50} rollup {rollup_s * 1000:6.2f} ms | pandas {pandas_s * 1000:7.1f} ms "
        f"| {pandas_s / rollup_s:5.0f}x faster (NPS {rollup_result[0]:.2f} both ways, "
        f"{pandas_result[4]:,} rows selected)"
    )


if __name__ == "__main__":
    main()
