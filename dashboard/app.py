"""Entry point: `streamlit run dashboard/app.py`.

Order of a run: page setup, settings (a bad variable is named on the page), login (an anonymous
session gets the form and the run stops: no reporting query, no figure is sent), then the page
navigation, built only for a signed-in session.
"""

from __future__ import annotations

# npscsat, jobs and dashboard are installed (editable) in the environment, so they import here
# although `streamlit run dashboard/app.py` puts only dashboard/ on sys.path.
import streamlit as st
import structlog

from dashboard.auth import require_login
from dashboard.config import DashboardSettings, ignored_variables, load_dashboard_settings
from dashboard.formatting import escape_markdown
from dashboard.home import render_home
from npscsat.errors import ConfigError
from npscsat.logs import configure_logging

log = structlog.get_logger("dashboard")


@st.cache_resource(show_spinner=False)
def _configure_logging_once(level: str, log_format: str) -> None:
    configure_logging(level, log_format)
    for variable, why in ignored_variables().items():
        log.warning("setting_ignored", variable=variable, reason=why)
    log.info("dashboard_started")


def _settings() -> DashboardSettings | None:
    try:
        return load_dashboard_settings()
    except ConfigError as exc:
        _configure_logging_once("INFO", "auto")
        log.error("dashboard_misconfigured", error=str(exc))
        problems = "\n".join(f"- {escape_markdown(p.strip())}" for p in str(exc).split("; "))
        st.error(
            "**The dashboard is not configured correctly**, so it will not start.\n\n"
            f"{problems}\n\nSet these environment variables (see .env.example) and restart it."
        )
        return None


def main() -> None:
    st.set_page_config(
        page_title="NPS & CSAT · npscsat",
        page_icon=":material/sentiment_satisfied:",
        layout="wide",
    )
    settings = _settings()
    if settings is None:
        return
    _configure_logging_once(settings.log_level, settings.log_format)
    if require_login(settings) is None:
        return  # the login form is all an anonymous session gets

    def overview() -> None:
        render_home(settings)

    home = st.Page(
        overview,
        title="Overview",
        icon=":material/insights:",
        url_path="overview",
        default=True,
    )
    st.navigation([home]).run()


main()
