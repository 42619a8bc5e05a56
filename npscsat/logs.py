"""structlog setup, called once at each entrypoint (the job's CLI, the dashboard's app)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from npscsat.config import LogFormat


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """JSON lines when not on a terminal (docker logs, CI), readable colours on a terminal."""
    stream = stream or sys.stdout
    use_console = log_format == "console" or (log_format == "auto" and stream.isatty())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if use_console:
        # Plain tracebacks: rich's default would print frame locals (settings, secrets).
        renderers = [
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        ]
    else:
        # Tracebacks as data, without frame locals: those could hold settings and secrets.
        renderers = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    structlog.configure(
        processors=[*shared, *renderers],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
