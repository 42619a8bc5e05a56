"""Command line of the job: `python -m jobs [STEP]`. Without a step it runs the whole job.

Configuration comes only from the environment (see .env.example). Every failure ends in one
`job_failed` log line that names the cause, and a non-zero exit code. SIGTERM / SIGINT stop the
job after the batches in flight are written (exit 128 + signal number); a second signal stops it
at once (nothing half-written either way: every batch is one transaction).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import traceback
import uuid
from typing import TextIO

import structlog

from jobs import lookups, steps, users
from jobs.config import JobSettings
from jobs.errors import JobInterrupted
from jobs.importing.formats import FORMATS
from jobs.importing.run import ImportOptions, ImportReport, run_import, summary_fields
from jobs.invite import InviteReport, run_invite
from jobs.invite import summary_fields as invite_summary
from jobs.signals import StopSignals
from jobs.steps import JobContext, RunOutcome
from npscsat.config import load_settings
from npscsat.errors import ConfigError, NpscsatError
from npscsat.logs import configure_logging

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

log = structlog.get_logger("jobs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs",
        description=(
            "npscsat data job. Without a step it runs them all, in order: migrate, users, "
            "generate, classify, refresh. Settings come from the environment (.env.example)."
        ),
    )
    step = parser.add_subparsers(dest="step", metavar="STEP")
    step.add_parser("run", help="every step in order (the default)")
    step.add_parser(
        "migrate",
        help="apply db/init/*.sql once each, set the business time zone and the dashboard role",
    )

    user = step.add_parser(
        "users",
        help="dashboard users; without an action, create the demo user from "
        "DASHBOARD_ADMIN_USERNAME / DASHBOARD_ADMIN_PASSWORD when it is missing",
        description="Passwords are read from a prompt (on a terminal) or from the first line of "
        "stdin, never from the command line. Changing a password or disabling a user ends "
        "that user's open dashboard sessions.",
    )
    action = user.add_subparsers(dest="action", metavar="ACTION")
    add = action.add_parser("add", help="add a user (password from prompt or stdin)")
    add.add_argument("username")
    add.add_argument("--display-name", help="name shown in the dashboard (default: username)")
    add.add_argument("--email")
    action.add_parser("set-password", help="set a user's password (prompt or stdin)").add_argument(
        "username"
    )
    action.add_parser("disable", help="stop a user from logging in").add_argument("username")
    action.add_parser("enable", help="let a disabled user log in again").add_argument("username")
    action.add_parser("list", help="list users (no password hashes)")
    action.add_parser(
        "reset-admin",
        help="apply DASHBOARD_ADMIN_PASSWORD (and display name, e-mail) to the existing demo "
        "user and enable it; without this, runs never change an existing user",
    )

    step.add_parser(
        "model",
        help="wait until OLLAMA_MODEL is on OLLAMA_HOST (pull it if OLLAMA_PULL_MODEL)",
    )
    generate = step.add_parser(
        "generate", help="generate responses up to the target (tops up, never exceeds)"
    )
    generate.add_argument(
        "--target", type=int, help="responses wanted (default JOB_TARGET_RESPONSES)"
    )
    step.add_parser("classify", help="label the sentiment of comments that have none")
    step.add_parser("refresh", help="check the reporting rollup against raw rows; rebuild if off")
    _add_import_parser(step)
    _add_invite_parser(step)
    for name, kind in (("channels", "channel"), ("customer-types", "customer type")):
        lookup = step.add_parser(name, help=f"list or add {kind} codes (the dashboard's filters)")
        action = lookup.add_subparsers(dest="action", metavar="ACTION", required=True)
        add = action.add_parser("add", help=f"add a {kind} (or relabel an existing code)")
        add.add_argument("code", help="lowercase letters, digits or _ (what files and rows hold)")
        add.add_argument("label", help="what the dashboard shows")
        action.add_parser("list", help=f"list the {kind} codes and labels")
    return parser


def _add_import_parser(step) -> None:
    parser = step.add_parser(
        "import",
        help="load survey responses from a CSV file (ours, or a Qualtrics export)",
        description="Loads every row of a CSV file (.csv.gz too, or - for standard input) in "
        "one transaction: all rows or none, unless --skip-invalid. Re-importing a file adds "
        "nothing. The format is in docs/importing.md.",
    )
    parser.add_argument("path", metavar="PATH", help='a .csv or .csv.gz file, or "-" for stdin')
    parser.add_argument(
        "--source",
        metavar="NAME",
        help="the source the rows are stored under, as import:NAME (default: the file's base "
        "name); keep it the same for every file of one tool",
    )
    parser.add_argument("--format", choices=FORMATS, default="npscsat", help="default: npscsat")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="load the valid rows; write the others, with their problem, to a rejects file",
    )
    parser.add_argument(
        "--rejects-file", metavar="PATH", help="default: NAME.rejects.csv next to the input"
    )
    parser.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    parser.add_argument(
        "--update",
        action="store_true",
        help="update stored rows whose external_id is in the file with other values",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="the file column holding one of our fields, e.g. nps_score=Q1 (repeatable)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="one value of a field for every row, e.g. channel=email (repeatable)",
    )


def _add_invite_parser(step) -> None:
    parser = step.add_parser(
        "invite",
        help="survey invitations from a CSV file of support contacts; writes their links",
        description="Stores one invitation per row (external_id, channel, customer_type, "
        "optional email and locale; a row invited before is kept as it is) and writes "
        "external_id,link to --out. With SMTP_HOST set, e-mails each address that was not "
        "e-mailed before. Addresses are never stored. The format is in docs/survey.md.",
    )
    parser.add_argument(
        "path", metavar="PATH", nargs="?", help='a .csv or .csv.gz file, or "-" for stdin'
    )
    parser.add_argument(
        "--out",
        metavar="LINKS.csv",
        help='where the links go; "-" for standard output (the log then goes to stderr); '
        "default: NAME.links.csv next to PATH",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="instead of a file: a handful of demo invitations, and one link in the log",
    )


def _users(ctx: JobContext, args: argparse.Namespace, stdin: TextIO) -> None:
    s = ctx.settings
    if args.action is None:
        steps.ensure_demo_user(ctx)
    elif args.action == "add":
        users.check_username(args.username)  # before asking for a password
        password = users.read_new_password(stdin, prompt=stdin.isatty())
        users.add_user(
            ctx.engine,
            args.username,
            password,
            display_name=args.display_name,
            email=args.email,
            app_env=s.app_env,
        )
    elif args.action == "set-password":
        password = users.read_new_password(stdin, prompt=stdin.isatty())
        users.set_password(ctx.engine, args.username, password, app_env=s.app_env)
    elif args.action in ("disable", "enable"):
        users.set_active(ctx.engine, args.username, args.action == "enable")
    elif args.action == "reset-admin":
        steps.ensure_demo_user(ctx, reset=True)
    elif args.action == "list":
        for row in users.list_users(ctx.engine):
            log.info(
                "user",
                username=row.username,
                display_name=row.display_name,
                email=row.email,
                active=row.is_active,
            )


def _import(ctx: JobContext, args: argparse.Namespace, stdin: TextIO) -> ImportReport:
    options = ImportOptions(
        path=args.path,
        source_name=args.source,
        file_format=args.format,
        skip_invalid=args.skip_invalid,
        dry_run=args.dry_run,
        update=args.update,
        rejects_file=args.rejects_file,
        maps=args.map,
        sets=args.set,
    )
    return run_import(
        ctx.engine,
        options,
        business_timezone=ctx.settings.business_timezone,
        stdin=_binary(stdin),
        halt=ctx.halt,
    )


def _invite(ctx: JobContext, args: argparse.Namespace, stdin: TextIO) -> InviteReport:
    if args.demo and args.path:
        raise ConfigError("give either PATH or --demo, not both")
    links = ctx.settings.survey_links()  # before anything is read: a missing key says so
    return run_invite(
        ctx.engine,
        links,
        path=args.path,
        out=args.out,
        mailer=ctx.settings.mailer(),
        stdin=_binary(stdin),
        demo=args.demo,
    )


def _binary(stdin: TextIO):
    binary = getattr(stdin, "buffer", None)
    if binary is None and isinstance(stdin, io.StringIO):  # in-process callers (tests)
        binary = io.BytesIO(stdin.getvalue().encode("utf-8"))
    return binary


def _lookup(ctx: JobContext, args: argparse.Namespace) -> None:
    kind = "channel" if args.step == "channels" else "customer_type"
    if args.action == "add":
        added = lookups.add_code(ctx.engine, kind, args.code, args.label)
        log.info(
            f"{kind}_added" if added else f"{kind}_relabelled", code=args.code, label=args.label
        )
    else:
        for row in lookups.list_codes(ctx.engine, kind):
            log.info(kind, code=row.code, label=row.label, sort_order=row.sort_order)


def _run_step(
    ctx: JobContext, args: argparse.Namespace, stdin: TextIO
) -> RunOutcome | ImportReport | InviteReport | None:
    step = args.step or "run"
    if step == "run":
        steps.migrate(ctx)
        steps.ensure_demo_user(ctx)
        if ctx.settings.survey_demo_invitations:
            steps.invite_demo(ctx)
        return steps.run_data_steps(ctx, generate=True, classify=True, refresh=True)
    if step == "migrate":
        steps.migrate(ctx)
    elif step == "users":
        _users(ctx, args, stdin)
    elif step == "model":
        steps.wait_for_model(ctx)
    elif step == "generate":
        if args.target is not None and args.target < 0:
            raise ConfigError("--target must be 0 or more")
        return steps.run_data_steps(
            ctx, generate=True, classify=False, refresh=False, target=args.target
        )
    elif step == "classify":
        return steps.run_data_steps(ctx, generate=False, classify=True, refresh=False)
    elif step == "refresh":
        return steps.run_data_steps(ctx, generate=False, classify=False, refresh=True)
    elif step == "import":
        return _import(ctx, args, stdin)
    elif step == "invite":
        return _invite(ctx, args, stdin)
    elif step in ("channels", "customer-types"):
        _lookup(ctx, args)
    return None


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    step = args.step or "run"
    run_id = uuid.uuid4()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=str(run_id))
    # `invite --out -` writes the links to standard output: the log goes to stderr then.
    log_stream = sys.stderr if getattr(args, "out", None) == "-" else None
    try:
        settings = load_settings(JobSettings)
    except ConfigError as exc:
        configure_logging(stream=log_stream)
        log.error("job_failed", step=step, cause="configuration", error=str(exc))
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format, stream=log_stream)

    ctx = JobContext(settings, run_id)
    with StopSignals(ctx.halt) as signals:
        try:
            outcome = _run_step(ctx, args, stdin or sys.stdin)
        except JobInterrupted:
            log.warning("job_interrupted", step=step, **_partial(ctx))
            return signals.exit_code
        except ConfigError as exc:
            log.error("job_failed", step=step, cause="configuration", error=str(exc))
            return EXIT_CONFIG
        except NpscsatError as exc:
            log.error(
                "job_failed", step=step, cause=type(exc).__name__, error=str(exc), **_partial(ctx)
            )
            return EXIT_FAILED
        except Exception as exc:
            # A bug, not a condition we foresaw: still one structured line, so log collectors
            # and the exit code tell the same story. Frames without their local variables:
            # those hold settings such as DATABASE_URL, password included.
            log.error(
                "job_failed", step=step, cause="unexpected", error=repr(exc), where=_frames(exc)
            )
            return EXIT_FAILED
        finally:
            ctx.close()
    if isinstance(outcome, ImportReport):
        log.info("job_finished", step=step, **summary_fields(outcome))
    elif isinstance(outcome, InviteReport):
        log.info("job_finished", step=step, **invite_summary(outcome))
    elif outcome is not None:
        log.info("job_finished", step=step, **steps.summary_fields(ctx, outcome))
    else:
        log.info("job_finished", step=step, duration_s=round(time.monotonic() - ctx.started, 1))
    return EXIT_OK


def _frames(exc: BaseException, last: int = 6) -> list[str]:
    return [
        f"{frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)[-last:]
    ]


def _partial(ctx: JobContext) -> dict:
    """What a run that did not finish still got done."""
    fields = {"retries": ctx.usage.retries, "ollama_calls": ctx.usage.calls}
    generation = ctx.outcome.generation if ctx.outcome else None
    if generation:
        fields.update(steps.generation_counts(generation))
    return fields
