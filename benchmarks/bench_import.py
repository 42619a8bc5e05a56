"""Import benchmark (issue 10): prints figures, asserts nothing about the machine.

    uv run python -m benchmarks.bench_import [--rows 1000000]

In one run, on a throwaway database (same server choice as the tests, see testkit/pg.py):
1. a CSV file of N responses in our format (and one of N / 10), written to a temporary folder;
2. a bare COPY of the same rows, already in COPY's text format, into the same table
   (app.survey_response with its indexes and rollup triggers), in one statement;
3. `python -m jobs import` of the file as a real process, into the emptied table: rows/s of the
   whole process and the ratio to the bare COPY (bar >= 0.5), and its peak memory (ru_maxrss
   from wait4) for N / 10 and N rows (bar: flat in file size);
4. the same file imported again: nothing added, every row found already present.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from jobs.importing.formats import FIELDS
from jobs.migrate import run_migrate
from npscsat.db import create_db_engine
from testkit.pg import admin_server, throwaway_database

REPO = Path(__file__).resolve().parents[1]
CHANNELS = ("phone", "email", "chat", "whatsapp", "self_service")
CUSTOMER_TYPES = ("individual", "small_business", "enterprise")
COMMENTS = (
    "Quick answer, thanks.",
    "Took too long to reply, and I had to explain it twice.",
    'The agent said "it is fixed", it was not.',
    "",
)
COPY_COLUMNS = (
    "(source, external_id, responded_at, channel, customer_type, nps_score, csat_score, comment)"
)


def write_files(folder: Path, count: int, seed: int) -> tuple[Path, Path]:
    """The CSV file to import and the same rows in COPY text format (for the bare COPY)."""
    rnd = random.Random(seed)
    end = datetime(2026, 11, 30, tzinfo=UTC)
    csv_path, copy_path = folder / f"responses_{count}.csv", folder / f"responses_{count}.tsv"
    with csv_path.open("w", newline="") as csv_file, copy_path.open("w") as copy_file:
        writer = csv.writer(csv_file)
        writer.writerow(FIELDS)
        for number in range(count):
            at = end - timedelta(seconds=rnd.randrange(365 * 86_400))
            nps = "" if rnd.random() < 0.05 else str(rnd.randrange(11))
            csat = "" if nps and rnd.random() < 0.10 else str(rnd.randrange(1, 6))
            comment = rnd.choice(COMMENTS)
            row = [
                f"T-{number:07d}",
                at.isoformat(),
                rnd.choice(CHANNELS),
                rnd.choice(CUSTOMER_TYPES),
                nps,
                csat,
                comment,
            ]
            writer.writerow(row)
            copy_file.write(
                "\t".join(["import:bench", *row[:4], nps or "\\N", csat or "\\N", comment or "\\N"])
                + "\n"
            )
    return csv_path, copy_path


def bare_copy(engine, copy_path: Path) -> float:
    """Seconds for one COPY of the file into app.survey_response (triggers on), committed."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, copy_path.open() as data:
            started = time.perf_counter()
            cur.copy_expert(f"COPY app.survey_response {COPY_COLUMNS} FROM STDIN", data, 1 << 20)
            raw.commit()
            return time.perf_counter() - started
    finally:
        raw.close()


def empty(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE app.survey_response, app.import_run"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) app.survey_response, reporting.daily_rollup"))


def run_import(database_url: str, csv_path: Path) -> tuple[float, int, dict]:
    """Seconds of the whole `python -m jobs import` process, its peak RSS in MiB and the fields
    of its job_finished line."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "APP_ENV": "dev",
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(REPO),
    }
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "jobs", "import", str(csv_path), "--source", "bench"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
        # wait4 rather than wait(): it also returns this child's own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(
            f"import failed ({process.returncode}):\n{output[-3000:]}\n{errors[-3000:]}"
        )
    finished = [json.loads(line) for line in output.splitlines() if '"job_finished"' in line][-1]
    return elapsed, usage.ru_maxrss // 1024, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    small = rows // 10
    with tempfile.TemporaryDirectory(prefix="npscsat-bench-import-") as tmp:
        folder = Path(tmp)
        print(f"writing CSV files of {small:,} and {rows:,} responses ...", flush=True)
        small_csv, _ = write_files(folder, small, seed=7)
        big_csv, big_copy = write_files(folder, rows, seed=42)
        size_mb = big_csv.stat().st_size / 1e6
        with admin_server() as admin, throwaway_database(admin, prefix="npscsat_bench") as db:
            engine = create_db_engine(db.url, application_name="npscsat-bench")
            run_migrate(engine, business_timezone="UTC", dashboard_role="", dashboard_password=None)
            url = db.url.render_as_string(hide_password=False)

            bare_s = bare_copy(engine, big_copy)
            empty(engine)
            import_s, big_rss, big_fields = run_import(url, big_csv)
            again_s, _, again_fields = run_import(url, big_csv)
            empty(engine)
            _, small_rss, _ = run_import(url, small_csv)
            engine.dispose()

    bare_rate, import_rate = rows / bare_s, rows / import_s
    print(f"\nimport {rows:,} rows from a {size_mb:,.0f} MB CSV file, one transaction")
    print(f"  bare COPY of the same rows (same table)  {bare_rate:12,.0f} rows/s  ({bare_s:.1f} s)")
    print(
        f"  python -m jobs import, whole process     {import_rate:12,.0f} rows/s  "
        f"({import_s:.1f} s; {big_fields['rows_per_s']:,.0f} rows/s by its own clock)"
    )
    ratio = import_rate / bare_rate
    print(f"  ratio                                    {ratio:12.2f}  (bar: >= 0.50)")
    print(
        f"  imported={big_fields['imported']:,} already_present={big_fields['already_present']:,}"
    )
    print(
        f"\nimport the same file again: {again_s:.1f} s, imported={again_fields['imported']:,} "
        f"already_present={again_fields['already_present']:,}"
    )
    print("\npeak memory of the import process (ru_maxrss)")
    print(f"  {small:>9,} rows  {small_rss:6,} MiB")
    print(f"  {rows:>9,} rows  {big_rss:6,} MiB  (bar: flat in file size)")


if __name__ == "__main__":
    main()
