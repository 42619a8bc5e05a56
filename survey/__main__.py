"""`python -m survey`: serves the survey on SURVEY_HOST:SURVEY_PORT with uvicorn.

Settings come from the environment (.env.example); a bad one is logged by name and the process
exits 2. SURVEY_WORKERS processes share the port.
"""

from __future__ import annotations

import sys

import structlog
import uvicorn

from npscsat.errors import ConfigError
from npscsat.logs import configure_logging
from survey.config import load_survey_settings

EXIT_CONFIG = 2
log = structlog.get_logger("survey")


def build_app():
    """The application factory uvicorn calls in each worker process."""
    from survey.app import create_app

    settings = load_survey_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def main() -> int:
    try:
        settings = load_survey_settings()
    except ConfigError as exc:
        configure_logging()
        log.error("survey_failed", cause="configuration", error=str(exc))
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    log.info(
        "survey_starting",
        host=settings.survey_host,
        port=settings.survey_port,
        workers=settings.survey_workers,
        public_url=settings.survey_public_url,
    )
    uvicorn.run(
        "survey.__main__:build_app",
        factory=True,
        host=settings.survey_host,
        port=settings.survey_port,
        workers=settings.survey_workers,
        # The client address is ours to decide (SURVEY_TRUSTED_PROXIES, one rule with the
        # dashboard): uvicorn must not rewrite it from X-Forwarded-For on its own.
        proxy_headers=False,
        server_header=False,
        # uvicorn's access log would write every link's token: our own lines never do.
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
