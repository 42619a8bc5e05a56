"""`python -m jobs import`: a valid file lands whole with its source and the figures equal a
recomputation from the file; a bad file is refused with its line and column and nothing is
written; --skip-invalid, --dry-run, --update; re-imports add nothing; a killed import leaves
nothing behind; standard input, gzip, and a Qualtrics export written from its documentation."""

from __future__ import annotations

import csv
import gzip
import io
import os
import signal
import subprocess
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from dashboard.figures import figures_of
from jobs.importing.formats import FIELDS
from jobs.importing.run import ImportOptions, ImportReport, run_import
from npscsat import reporting
from npscsat.metrics import Totals
from tests.conftest import reset_data
from tests.job.conftest import REPO, job_command, parse_json_lines, run_job, scalar, subprocess_env
from tests.lookups import restore_channels
from tests.recompute import totals_of

EXAMPLES = REPO / "docs" / "examples"
NOW = datetime(2026, 12, 31, tzinfo=UTC)  # what "now" is for these files: after all of them
HEADER = list(FIELDS)
HEADER_LINE = ",".join(HEADER) + "\n"
CHANNEL_LABELS = {"phone": "Phone", "email": "Email", "chat": "Live chat"}
COUNT = "SELECT count(*) FROM app.survey_response"


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_row(external_id: str = "T-1", **values: str) -> list[str]:
    row = {
        "external_id": external_id,
        "responded_at": "2025-11-02T09:14:00-03:00",
        "channel": "chat",
        "customer_type": "individual",
        "nps_score": "9",
        "csat_score": "5",
        "comment": "Quick and kind.",
    } | values
    return [row[name] for name in HEADER]


def import_file(db, path: Path | str, zone: str = "UTC", **options) -> ImportReport:
    return run_import(
        db.engine,
        ImportOptions(str(path), **options),
        business_timezone=zone,
        now=NOW,
    )


def attempt(db, path: Path | str, **options) -> tuple[ImportReport | None, str, list[str]]:
    """(report or None, the error if refused, the row problems logged)."""
    with structlog.testing.capture_logs() as logs:
        try:
            report, error = import_file(db, path, **options), ""
        except Exception as exc:  # the test looks at what was raised
            report, error = None, str(exc)
    problems = [e["problem"] for e in logs if e["event"] == "row_invalid"]
    return report, error, problems


def stored(db, source: str) -> list[dict]:
    with db.engine.connect() as conn:
        return [
            dict(row)
            for row in conn.execute(
                text(
                    "SELECT external_id, responded_at, channel, customer_type, nps_score, "
                    "csat_score, comment, sentiment, run_id FROM app.survey_response "
                    "WHERE source = :s ORDER BY external_id"
                ),
                {"s": source},
            ).mappings()
        ]


# --- a valid file --------------------------------------------------------------------------


def test_the_example_file_lands_whole_with_its_source(db, job_env):
    result = run_job(job_env, "import", str(EXAMPLES / "responses.csv"))
    assert result.code == 0, result.lines[-3:]
    summary = result.last("job_finished")
    assert (summary["imported"], summary["already_present"], summary["rejected"]) == (6, 0, 0)
    assert summary["source"] == "import:responses"
    assert "classify" in summary["next"]
    rows = stored(db, "import:responses")
    assert [r["external_id"] for r in rows] == [f"T-100{i}" for i in range(1, 7)]
    by_id = {r["external_id"]: r for r in rows}
    assert by_id["T-1005"]["channel"] == "chat"  # "Live chat": the label names the code
    assert by_id["T-1005"]["customer_type"] == "individual"  # "Individual": any case
    assert by_id["T-1005"]["comment"].endswith('say "it still fails".')
    assert by_id["T-1004"]["nps_score"] is None and by_id["T-1004"]["csat_score"] == 4
    assert by_id["T-1003"]["csat_score"] is None and by_id["T-1003"]["comment"] is None
    # No offset: read in BUSINESS_TIMEZONE (the job's environment says UTC here).
    assert by_id["T-1004"]["responded_at"] == datetime(2025, 11, 4, 8, 30, tzinfo=UTC)
    assert by_id["T-1001"]["responded_at"] == datetime(2025, 11, 2, 12, 14, tzinfo=UTC)
    with db.engine.connect() as conn:
        run = conn.execute(text("SELECT * FROM app.import_run")).mappings().one()
    assert run["imported"] == 6 and run["file_name"] == "responses.csv"
    assert {r["run_id"] for r in rows} == {run["import_id"]}


ZONES = ["UTC", "America/Sao_Paulo", "Pacific/Auckland", "Europe/Berlin", "Asia/Kolkata"]
OFFSETS = st.sampled_from(
    [
        None,
        UTC,
        timezone(timedelta(hours=-3)),
        timezone(timedelta(hours=5, minutes=30)),
        ZoneInfo("America/New_York"),
        ZoneInfo("Pacific/Auckland"),
    ]
)
COMMENTS = st.one_of(
    st.just(""),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
    st.just('Line one,\nline "two"'),
)
answers = st.fixed_dictionaries(
    {
        "when": st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 10, 31)),
        "zone": OFFSETS,
        "channel": st.sampled_from([*CHANNEL_LABELS, *CHANNEL_LABELS.values(), "CHAT"]),
        "customer_type": st.sampled_from(["individual", "enterprise", "Small business"]),
        "scores": st.one_of(
            st.tuples(st.integers(0, 10), st.none() | st.integers(1, 5)),
            st.tuples(st.none(), st.integers(1, 5)),
        ),
        "comment": COMMENTS,
    }
)


def file_rows(answers_: list[dict]) -> list[list[str]]:
    rows = []
    for number, answer in enumerate(answers_):
        moment = (
            answer["when"]
            if answer["zone"] is None
            else answer["when"].replace(tzinfo=answer["zone"])
        )
        nps, csat = answer["scores"]
        rows.append(
            [
                f"R-{number}",
                moment.isoformat(sep=" " if number % 2 else "T"),
                answer["channel"],
                answer["customer_type"],
                "" if nps is None else str(nps),
                "" if csat is None else str(csat),
                answer["comment"],
            ]
        )
    return rows


def recomputed_days(answers_: list[dict], zone: str) -> dict[date, Totals]:
    """Python's own totals per business day, straight from what the file says."""
    business = ZoneInfo(zone)
    days: dict[date, list[tuple]] = {}
    for answer in answers_:
        tz = answer["zone"] or business  # no offset: the business time zone
        day = answer["when"].replace(tzinfo=tz).astimezone(business).date()
        days.setdefault(day, []).append(answer["scores"])
    return {day: totals_of(scores) for day, scores in days.items()}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(zone=st.sampled_from(ZONES), answers_=st.lists(answers, min_size=1, max_size=40))
@example(  # a Sunday 23:30 in Sao Paulo is Monday in UTC; a CSAT-only and an empty comment
    zone="America/Sao_Paulo",
    answers_=[
        {
            "when": datetime(2025, 11, 30, 23, 30),
            "zone": None,
            "channel": "chat",
            "customer_type": "individual",
            "scores": (None, 2),
            "comment": "",
        },
        {
            "when": datetime(2025, 12, 1, 2, 30),
            "zone": UTC,
            "channel": "Live chat",
            "customer_type": "enterprise",
            "scores": (10, None),
            "comment": "Great",
        },
    ],
)
def test_an_import_lands_every_row_and_the_figures_equal_a_recomputation(
    migrated_db, tmp_path_factory, zone, answers_
):
    reset_data(migrated_db.engine, business_timezone=zone)
    path = write_csv(tmp_path_factory.mktemp("import") / "helpdesk.csv", file_rows(answers_))
    report = import_file(migrated_db, path, zone=zone)
    assert report.imported == len(answers_) and report.rejected == 0

    rows = stored(migrated_db, "import:helpdesk")
    assert len(rows) == len(answers_)
    in_file_order = sorted(rows, key=lambda r: int(r["external_id"][2:]))
    for row, answer in zip(in_file_order, answers_, strict=True):
        assert (row["nps_score"], row["csat_score"]) == answer["scores"]
        assert row["comment"] == (answer["comment"].strip() or None)
        assert row["channel"] in CHANNEL_LABELS and row["sentiment"] is None

    expected = recomputed_days(answers_, zone)
    everything = reporting.ReportFilter(date(2024, 12, 1), date(2026, 12, 31))
    real = reporting.ReportFilter(everything.start, everything.end, sources=("import:helpdesk",))
    with migrated_db.dashboard_engine.connect() as conn:  # as the dashboard reads them
        days = {p.period_start: p.totals for p in reporting.fetch_series(conn, real, "day")}
        assert days == expected
        assert (
            reporting.fetch_series(
                conn,
                reporting.ReportFilter(everything.start, everything.end, sources=("x",)),
                "day",
            )
            == []
        )
        totals = reporting.fetch_totals(conn, real)
    whole = sum(expected.values(), Totals())
    assert totals == whole
    shown, direct = figures_of(totals, 30), figures_of(whole, 30)
    nps = [n for n, _ in (a["scores"] for a in answers_) if n is not None]
    assert shown.nps_responses == len(nps) and shown == direct
    if nps:
        promoters, detractors = sum(n >= 9 for n in nps), sum(n <= 6 for n in nps)
        assert shown.nps == pytest.approx(100 * (promoters - detractors) / len(nps))
    else:
        assert shown.nps is None and shown.nps_margin is None


# --- bad files: refused with their line and column, nothing written ---------------------------


def five_megabytes() -> str:
    return "x" * (5 * 1024 * 1024)


BAD_FILES = {
    "wrong header": (
        ["id", "responded_at", "channel", "customer_type", "nps_score"],
        [["T-1", "2025-11-02T09:14:00Z", "chat", "individual", "9"]],
        'line 1: unknown column "id"',
    ),
    "missing required column": (
        ["external_id", "responded_at", "customer_type", "nps_score"],
        [["T-1", "2025-11-02T09:14:00Z", "individual", "9"]],
        'line 1: missing column "channel"',
    ),
    "NPS 11": (HEADER, [good_row(), good_row("T-2", nps_score="11")], 'line 3, nps_score: "11"'),
    "CSAT 0": (
        HEADER,
        [good_row(csat_score="0")],
        'line 2, csat_score: "0" is not between 1 and 5',
    ),
    "bad timestamp": (
        HEADER,
        [good_row(responded_at="02/11/2025 9:14")],
        'line 2, responded_at: "02/11/2025 9:14" is not an ISO 8601 timestamp',
    ),
    "unknown channel": (
        HEADER,
        [good_row(channel="fax")],
        'line 2, channel: "fax" is not a known channel; known codes: phone, email, chat',
    ),
    "duplicate external_id": (
        HEADER,
        [good_row("T-1"), good_row("T-2"), good_row("T-1", nps_score="3")],
        'line 2, external_id: "T-1" is also on line 4',
    ),
    "neither score": (
        HEADER,
        [good_row(nps_score="", csat_score="")],
        "line 2: neither nps_score nor csat_score is given",
    ),
    "5 MB single field": (
        HEADER,
        [good_row(comment=five_megabytes())],
        'line 2, comment: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (5,242,880 characters)" is '
        "longer than 1,000 characters",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_with_its_line_and_column_and_nothing_is_written(db, tmp_path, case):
    header, rows, message = BAD_FILES[case]
    path = write_csv(tmp_path / "bad.csv", rows, header)
    report, error, problems = attempt(db, path)
    assert report is None
    assert any(message in p for p in problems) or message in error, (error, problems)
    assert scalar(db, COUNT) == 0
    assert scalar(db, "SELECT count(*) FROM app.import_run") == 0
    assert not (tmp_path / "bad.rejects.csv").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty", b"", "is empty: expected a header row"),
        ("binary", bytes(range(256)) * 40, "line 1 holds a NUL byte: this is a binary file"),
        ("png", b"\x89PNG\r\n\x1a\n" + bytes(200), "line 1 is not UTF-8 text"),
        ("latin-1", (HEADER_LINE + "Caf\xe9,").encode("latin-1"), "line 2 is not UTF-8 text"),
        ("open quote", (HEADER_LINE + '"T-1,x\n').encode(), "line 2: not valid CSV: a quoted"),
        ("semicolons", b"external_id;responded_at;channel\n", 'the file seems to use ";"'),
    ],
)
def test_a_file_that_is_not_csv_text_is_refused_by_line(db, tmp_path, name, content, message):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    report, error, _ = attempt(db, path)
    assert report is None and message in error, error
    assert scalar(db, COUNT) == 0


def test_at_most_twenty_problems_are_listed_and_the_rest_counted(db, tmp_path):
    rows = [good_row(f"T-{i}", nps_score="12") for i in range(45)]
    _, error, problems = attempt(db, write_csv(tmp_path / "many.csv", rows))
    assert len(problems) == 20 and problems[0].startswith('line 2, nps_score: "12"')
    assert "45 of 45 rows are invalid (the first 20 problems are listed above" in error


def test_skip_invalid_loads_the_good_rows_and_writes_the_rejects_next_to_the_input(db, tmp_path):
    rows = [
        good_row("T-1"),
        good_row("T-2", nps_score="11"),
        good_row("T-3", channel="fax"),
        good_row("T-4", csat_score=""),
        good_row("T-5"),
        good_row("T-5", nps_score="0"),  # a duplicate: both lines are refused
    ]
    path = write_csv(tmp_path / "export.csv", rows)
    report, error, _ = attempt(db, path, skip_invalid=True)
    assert error == ""
    assert (report.imported, report.invalid_rows, report.duplicate_rows) == (2, 2, 2)
    assert [r["external_id"] for r in stored(db, "import:export")] == ["T-1", "T-4"]
    rejects = list(csv.DictReader((tmp_path / "export.rejects.csv").open()))
    assert [
        (r["line"], r["external_id"]) for r in sorted(rejects, key=lambda r: int(r["line"]))
    ] == [
        ("3", "T-2"),
        ("4", "T-3"),
        ("6", "T-5"),
        ("7", "T-5"),
    ]
    by_line = {r["line"]: r for r in rejects}
    assert 'nps_score: "11" is not between 0 and 10' in by_line["3"]["problem"]
    assert by_line["3"]["nps_score"] == "11"  # as the file had it, to fix and import again
    assert "is also on line 7" in by_line["6"]["problem"]
    assert report.rejects_file == str(tmp_path / "export.rejects.csv")


def test_dry_run_reports_without_writing(db, tmp_path):
    path = write_csv(tmp_path / "export.csv", [good_row("T-1"), good_row("T-2", nps_score="x")])
    report, error, _ = attempt(db, path, dry_run=True, skip_invalid=True)
    assert error == "" and report.dry_run and report.imported == 1 and report.invalid_rows == 1
    assert scalar(db, COUNT) == 0 and scalar(db, "SELECT count(*) FROM app.import_run") == 0
    assert not (tmp_path / "export.rejects.csv").exists()


# --- idempotency, changes, a killed import ----------------------------------------------------


def test_importing_twice_adds_nothing_and_says_so(db, job_env, tmp_path):
    path = write_csv(tmp_path / "zendesk.csv", [good_row(f"T-{i}") for i in range(30)])
    first = run_job(job_env, "import", str(path))
    again = run_job(job_env, "import", str(path))
    assert first.code == 0 and again.code == 0, again.lines[-3:]
    assert first.last("job_finished")["imported"] == 30
    finished = again.last("job_finished")
    assert (finished["imported"], finished["already_present"]) == (0, 30)
    assert scalar(db, COUNT) == 30
    assert scalar(db, "SELECT sum(responses) FROM reporting.daily_rollup") == 30


def test_a_corrected_file_is_reported_and_applied_only_with_update(db, tmp_path):
    original = [good_row("T-1"), good_row("T-2", comment="Slow."), good_row("T-3")]
    import_file(db, write_csv(tmp_path / "crm.csv", original))
    with db.engine.begin() as conn:  # the classify step labelled them meanwhile
        conn.execute(text("UPDATE app.survey_response SET sentiment = 'neutral'"))
    corrected = [
        good_row("T-1"),
        good_row("T-2", comment="Slow, and the refund never came.", nps_score="2"),
        good_row("T-3"),
        good_row("T-4"),
    ]
    path = write_csv(tmp_path / "crm.csv", corrected)
    with structlog.testing.capture_logs() as logs:
        report = import_file(db, path)
    assert (report.imported, report.already_present, report.changed, report.updated) == (
        1,
        2,
        1,
        0,
    )
    [change] = [e for e in logs if e["event"] == "row_changed"]
    assert change["line"] == 3 and change["external_id"] == "T-2"
    assert "nps_score 9 -> 2" in change["changes"] and "comment changed" in change["changes"]
    assert "--update" in change["detail"]
    assert {r["external_id"]: r["nps_score"] for r in stored(db, "import:crm")}["T-2"] == 9

    report = import_file(db, path, update=True)
    assert (report.imported, report.changed, report.updated) == (0, 1, 1)
    rows = {r["external_id"]: r for r in stored(db, "import:crm")}
    assert rows["T-2"]["nps_score"] == 2 and rows["T-2"]["comment"].endswith("never came.")
    assert rows["T-2"]["sentiment"] is None  # a new comment: to be labelled again
    assert rows["T-1"]["sentiment"] == "neutral"
    assert scalar(db, "SELECT sum(detractors) FROM reporting.daily_rollup") == 1
    assert scalar(db, "SELECT sum(responses) FROM reporting.daily_rollup") == 4


@pytest.mark.slow
def test_a_killed_import_leaves_nothing_and_a_rerun_ends_with_exactly_the_files_rows(
    db, job_env, tmp_path
):
    count = 150_000
    path = write_csv(tmp_path / "big.csv", [good_row(f"T-{i:06d}") for i in range(count)])
    process = subprocess.Popen(
        job_command("import", str(path)),
        cwd=REPO,
        env=subprocess_env(job_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    for line in process.stdout:  # the file is being loaded: progress says so
        if '"import_progress"' in line and '"percent": 100.0' not in line:
            break
        assert time.monotonic() < deadline
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert scalar(db, COUNT) == 0  # one transaction: the server rolled it back
    assert scalar(db, "SELECT count(*) FROM app.import_run") == 0

    rerun = run_job(job_env, "import", str(path), timeout=300)
    assert rerun.code == 0, rerun.lines[-3:]
    assert rerun.last("job_finished")["imported"] == count
    assert scalar(db, COUNT) == count
    assert scalar(db, "SELECT count(DISTINCT external_id) FROM app.survey_response") == count
    assert scalar(db, "SELECT sum(responses) FROM reporting.daily_rollup") == count


# --- where the rows come from: stdin, gzip, Qualtrics --------------------------------------


def test_standard_input_and_gzip(db, job_env, tmp_path):
    plain = write_csv(tmp_path / "a.csv", [good_row("T-1"), good_row("T-2")])
    packed = tmp_path / "b.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes().replace(b"T-", b"G-")))

    needs_name = run_job(job_env, "import", "-", stdin=plain.read_text())
    assert needs_name.code == 1 and "--source" in needs_name.last("job_failed")["error"]
    from_stdin = run_job(job_env, "import", "-", "--source", "stdin", stdin=plain.read_text())
    assert from_stdin.code == 0 and from_stdin.last("job_finished")["imported"] == 2

    from_gzip = run_job(job_env, "import", str(packed))
    assert from_gzip.code == 0 and from_gzip.last("job_finished")["source"] == "import:b"
    done = subprocess.run(  # a compressed stream on stdin is recognised by its first bytes
        job_command("import", "-", "--source", "piped"),
        cwd=REPO,
        env=subprocess_env(job_env),
        input=packed.read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert parse_json_lines(done.stdout.decode())[-1]["imported"] == 2
    assert [r["external_id"] for r in stored(db, "import:piped")] == ["G-1", "G-2"]
    assert scalar(db, COUNT) == 6


def test_a_qualtrics_export_written_from_its_documentation_is_mapped(db):
    report = import_file(
        db,
        EXAMPLES / "qualtrics_export.csv",
        file_format="qualtrics",
        maps=("nps_score=Q1", "csat_score=Q2", "comment=Q3"),
    )
    assert report.rows_read == 7 and report.imported == 4 and report.rejected == 0
    assert report.skipped_reasons == {
        "survey preview": 1,
        "spam": 1,
        "no score (the survey was not answered)": 1,
    }
    rows = {r["external_id"]: r for r in stored(db, "import:qualtrics_export")}
    first = rows["R_1a2B3c4D5e6F7g8"]
    # EndDate 09:02:40 in America/Denver, the zone the third header row names (MST, UTC-7).
    assert first["responded_at"] == datetime(2025, 11, 3, 16, 2, 40, tzinfo=UTC)
    assert (first["nps_score"], first["csat_score"], first["comment"]) == (
        9,
        5,
        "Fast and friendly.",
    )
    assert rows["R_2b3C4d5E6f7G8h9"]["comment"].endswith("chat closed.\nNobody called back.")
    assert rows["R_4d5E6f7G8h9I0j1"]["csat_score"] is None
    assert rows["R_7g8H9i0J1k2L3m4"]["nps_score"] is None  # CSAT only
    assert {r["channel"] for r in rows.values()} == {"chat", "phone", "email"}
    # Names, e-mail addresses, IP addresses and locations are not stored anywhere.
    with db.engine.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM app.survey_response")).all())
    assert "jane@example.com" not in dump and "203.0.113.7" not in dump


def test_a_qualtrics_export_needs_its_question_columns_named(db):
    _, error, _ = attempt(db, EXAMPLES / "qualtrics_export.csv", file_format="qualtrics")
    assert "--map nps_score=QID" in error
    _, error, _ = attempt(
        db, EXAMPLES / "qualtrics_export.csv", file_format="qualtrics", maps=("nps_score=Q9",)
    )
    assert 'the file has no column "Q9"' in error
    _, error, _ = attempt(
        db, EXAMPLES / "responses.csv", file_format="qualtrics", maps=("nps_score=nps_score",)
    )
    assert "not a Qualtrics export" in error


def test_set_gives_every_row_one_value(db, tmp_path):
    header = ["ticket", "date", "rating", "remark"]
    rows = [["4711", "2025-11-02 10:00", "4", "ok"], ["4712", "2025-11-02 11:00", "1", ""]]
    report = import_file(
        db,
        write_csv(tmp_path / "intercom.csv", rows, header),
        maps=("external_id=ticket", "responded_at=date", "csat_score=rating", "comment=remark"),
        sets=("channel=chat", "customer_type=individual"),
    )
    assert report.imported == 2
    assert [
        (r["external_id"], r["csat_score"], r["channel"]) for r in stored(db, "import:intercom")
    ] == [
        ("4711", 4, "chat"),
        ("4712", 1, "chat"),
    ]


# --- channels and customer types, and the classify step -----------------------------------


@pytest.fixture
def extra_channel(db):
    """Adds a channel for one test and takes it away again (the session database is shared)."""
    yield "sms"
    restore_channels(db.engine)


def test_an_unknown_channel_can_be_added_by_a_job_subcommand(db, job_env, tmp_path, extra_channel):
    path = write_csv(tmp_path / "sms.csv", [good_row("S-1", channel="sms")])
    refused = run_job(job_env, "import", str(path))
    assert refused.code == 1
    [problem] = [e["problem"] for e in refused.events("row_invalid")]
    assert 'channel: "sms" is not a known channel' in problem
    assert "python -m jobs channels add CODE LABEL" in problem

    added = run_job(job_env, "channels", "add", "sms", "Text message")
    assert added.code == 0 and added.last("channel_added")["code"] == "sms"
    again = run_job(job_env, "channels", "add", "sms", "SMS")  # an existing code: relabelled
    assert again.code == 0 and again.last("channel_relabelled")["label"] == "SMS"
    listed = run_job(job_env, "channels", "list")
    assert ("sms", "SMS") in [(e["code"], e["label"]) for e in listed.events("channel")]
    bad = run_job(job_env, "channels", "add", "Fax Machine", "Fax")
    assert bad.code == 1 and "not a usable code" in bad.last("job_failed")["error"]

    imported = run_job(job_env, "import", str(path))
    assert imported.code == 0 and imported.last("job_finished")["imported"] == 1
    with db.dashboard_engine.connect() as conn:  # the dashboard's filter list shows it
        assert ("sms", "SMS") in [(o.code, o.label) for o in reporting.fetch_channels(conn)]


def test_the_classify_step_labels_imported_comments(db, job_env, capsys, tmp_path):
    from tests.job.conftest import run_in_process

    rows = [
        good_row("T-1", nps_score="10", comment="Great support, thank you!"),
        good_row("T-2", nps_score="1", csat_score="1", comment="Terrible wait, I am unhappy."),
        good_row("T-3", comment=""),
    ]
    import_file(db, write_csv(tmp_path / "helpdesk.csv", rows))
    result = run_in_process(capsys, "classify")
    assert result.code == 0, result.lines[-1]
    labels = {r["external_id"]: r["sentiment"] for r in stored(db, "import:helpdesk")}
    assert labels == {"T-1": "positive", "T-2": "negative", "T-3": None}


def test_one_import_per_source_at_a_time(db, tmp_path):
    path = write_csv(tmp_path / "crm.csv", [good_row()])
    with db.engine.connect() as other:  # another import of import:crm holds its lock
        other.execute(text("SELECT pg_advisory_xact_lock(7311028, hashtext('import:crm'))"))
        _, error, _ = attempt(db, path)
        assert "another import into import:crm is running" in error
        report, error, _ = attempt(db, path, source_name="other")  # another source: fine
        assert error == "" and report.imported == 1
    report, _, _ = attempt(db, path)
    assert report.imported == 1


def test_source_names_are_checked(db, tmp_path):
    path = write_csv(tmp_path / "x.csv", [good_row()])
    _, error, _ = attempt(db, path, source_name="Zendesk CSAT")
    assert "is not a usable source name" in error
    assert os.path.basename(str(path)) == "x.csv"
    report, _, _ = attempt(db, path, source_name="zendesk")
    assert report.source == "import:zendesk"


def test_a_database_that_was_never_migrated_is_named(empty_database):
    from npscsat.db import create_db_engine

    engine = create_db_engine(empty_database.url, application_name="npscsat-tests")
    with pytest.raises(Exception, match="run `python -m jobs migrate` first"):
        run_import(engine, ImportOptions(str(EXAMPLES / "responses.csv")), business_timezone="UTC")
    engine.dispose()


def test_reading_records_keeps_the_line_each_starts_on():
    from jobs.importing.reader import InputFile, records

    data = b'\xef\xbb\xbfa,b\r\n1,"two\nlines"\n\n3,x\n'
    found = list(records(InputFile("-", io.BytesIO(data))))
    assert [(r.line, r.fields) for r in found] == [
        (1, ["a", "b"]),
        (2, ["1", "two\nlines"]),
        (5, ["3", "x"]),
    ]
