"""The survey service as a Starlette application: routes, security headers, error pages.

Stateless: every replica (and every uvicorn worker) serves any request, because all state
(invitations, answers, rate limits) lives in PostgreSQL.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import jinja2
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from survey import locales, pages, queries
from survey.config import SurveySettings

HERE = Path(__file__).resolve().parent
log = structlog.get_logger("survey")

# No inline script or style anywhere, so the policy can forbid both; the page may not be framed
# (clickjacking); forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The token is in the URL: no page of ours may hand it to another site.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
PAGE_CACHE = "no-store"  # a page holds a personal answer and a CSRF token
STATIC_CACHE = "public, max-age=3600"


class SecurityHeaders:
    """Adds the security headers to every response, and the caching rule (none for pages)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control",) or static
                ]
                for name, value in SECURITY_HEADERS.items():
                    headers.append((name.lower().encode(), value.encode()))
                if not static:
                    headers.append((b"cache-control", PAGE_CACHE.encode()))
                    headers.append((b"pragma", b"no-cache"))
                elif not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", STATIC_CACHE.encode()))
                if self.https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is text: a comment holding <script> stays text
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    # One pair for every page: each message is looked up in the language of the page being
    # rendered (its `lang`).
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    return Jinja2Templates(env=env)


@jinja2.pass_context
def _gettext(context, message: str) -> str:
    return locales.gettext_for(context["lang"])(message)


@jinja2.pass_context
def _ngettext(context, singular: str, plural: str, n: int) -> str:
    return locales.ngettext_for(context["lang"])(singular, plural, n)


def create_app(settings: SurveySettings, engine=None) -> Starlette:
    """The application. `engine` defaults to one on SURVEY_DATABASE_URL (tests pass theirs)."""
    own_engine = engine is None
    engine = queries.create_engine_for(settings) if own_engine else engine
    survey = pages.Survey(settings, engine, _templates())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if own_engine:
            engine.dispose()

    async def http_error(request: Request, exc: HTTPException) -> Response:
        locale = locales.negotiate(request.headers.get("accept-language"))
        if exc.status_code == 404:
            return await pages.not_found(request)
        if exc.status_code == 405:
            return pages.message_page(
                survey, request, locale, 405, "This page cannot do that",
                "To answer a survey, open the link from your e-mail.",
            )  # fmt: skip
        if exc.status_code == 413:
            return pages.message_page(
                survey, request, locale, 413, "Your answer is too long",
                "Please shorten your comment to at most 1,000 characters and send it again.",
            )  # fmt: skip
        return pages.message_page(
            survey, request, locale, exc.status_code, "Your request could not be handled",
            "Please open the survey again from your e-mail.",
        )  # fmt: skip

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("survey_error", error=repr(exc), path_kind=request.url.path.split("/")[1:2])
        return pages.message_page(
            survey,
            request,
            locales.negotiate(request.headers.get("accept-language")),
            500,
            "Something went wrong on our side",
            "Nothing was recorded. Please try again in a minute.",
        )

    routes = [
        Route("/healthz", pages.healthz, methods=["GET"]),
        Route("/s/{token}", pages.show_survey, methods=["GET"]),
        Route("/s/{token}", pages.record_survey, methods=["POST"]),
        Route("/s/{token}/thanks", pages.show_thanks, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, https=settings.survey_public_url.startswith("https:"))
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.survey = survey
    return app
