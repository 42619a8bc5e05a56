"""Command line of the job: `python -m jobs [STEP]`. Without a step it runs the whole job.

Configuration comes only from the environment (see .env.example). Every failure ends in one
`job_failed` log line that names the cause, and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import uuid

import structlog

from jobs.config import JobSettings
from jobs.migrate import run_migrate
from npscsat.config import load_settings
from npscsat.db import create_db_engine, ensure_reachable
from npscsat.errors import ConfigError, NpscsatError
from npscsat.logs import configure_logging

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

log = structlog.get_logger("jobs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs",
        description="npscsat data job. Without a step it runs them all, in order.",
    )
    steps = parser.add_subparsers(dest="step", metavar="STEP")
    steps.add_parser("run", help="every step in order (the default)")
    steps.add_parser(
        "migrate",
        help="apply db/init/*.sql once each, set the business time zone and the dashboard role",
    )
    return parser


def _migrate(settings: JobSettings) -> None:
    engine = create_db_engine(settings.database(), application_name="npscsat-job")
    try:
        ensure_reachable(engine)
        password = settings.dashboard_db_password
        run_migrate(
            engine,
            business_timezone=settings.business_timezone,
            dashboard_role=settings.dashboard_db_user,
            dashboard_password=password.get_secret_value() if password else None,
        )
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    step = args.step or "run"
    structlog.contextvars.bind_contextvars(run_id=str(uuid.uuid4()))
    try:
        settings = load_settings(JobSettings)
    except ConfigError as exc:
        configure_logging()
        log.error("job_failed", cause="configuration", error=str(exc))
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    try:
        if step in ("run", "migrate"):
            _migrate(settings)
    except NpscsatError as exc:
        log.error("job_failed", step=step, cause=type(exc).__name__, error=str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        log.warning("job_interrupted", step=step)
        return EXIT_INTERRUPTED
    return EXIT_OK
