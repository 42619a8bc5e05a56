"""The survey's pages: GET shows, POST records. Thin handlers over survey.form (pure checks),
npscsat.survey_links (tokens) and survey.queries (the database functions).

    GET  /s/<token>[?score=N]   the questions, the score preselected; records nothing
    POST /s/<token>             records (or edits) the answer, then redirects to the thanks page
    GET  /s/<token>/thanks      "thank you", with a way back while the answer may change
    GET  /healthz               200 when the database answers

Every refusal is a page in the visitor's language with a 4xx status, never a traceback.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from npscsat.client_address import client_address
from npscsat.errors import DatabaseUnavailable
from npscsat.survey_links import LinkProblem
from survey import form, locales, queries
from survey.config import SurveySettings

log = structlog.get_logger("survey")

# The page's own POST of the clicked score waits this long with the page visible.
AUTORECORD_AFTER_MS = 3000
# A form may be sent this long after it was shown (a tab left open over lunch is fine).
FORM_MAX_AGE_SECONDS = 24 * 3600
CSAT_LABELS = (
    (1, "Very dissatisfied"),
    (2, "Dissatisfied"),
    (3, "Neither satisfied nor dissatisfied"),
    (4, "Satisfied"),
    (5, "Very satisfied"),
)


@dataclass
class Survey:
    """What the handlers share: settings, the engine, the templates."""

    settings: SurveySettings
    engine: object
    templates: Jinja2Templates

    def __post_init__(self) -> None:
        # Parsed once per process, not once per request.
        self.links = self.settings.links
        self.trusted_proxies = self.settings.trusted_proxies

    @property
    def env(self) -> Environment:
        return self.templates.env


# --- rendering ----------------------------------------------------------------------------


def _locale(request: Request, state: queries.InvitationState | None = None) -> str:
    if state is not None and state.locale in locales.LOCALES:
        return state.locale
    return locales.negotiate(request.headers.get("accept-language"))


def _render(
    survey: Survey,
    request: Request,
    template: str,
    locale: str,
    status_code: int = 200,
    headers: dict | None = None,
    **context,
) -> Response:
    context["lang"] = locale
    response = survey.templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )
    response.headers["Content-Language"] = locale
    return response


def message_page(
    survey: Survey,
    request: Request,
    locale: str,
    status_code: int,
    heading: str,
    *paragraphs: str,
    link: tuple[str, str] | None = None,
    headers: dict | None = None,
    **values,
) -> Response:
    """A page with a heading and a few sentences, all translated; `values` fill %(name)s."""
    gettext = locales.gettext_for(locale)
    return _render(
        survey,
        request,
        "message.html",
        locale,
        status_code=status_code,
        headers=headers,
        heading=gettext(heading) % values if values else gettext(heading),
        paragraphs=[gettext(p) % values if values else gettext(p) for p in paragraphs],
        link_href=link[0] if link else None,
        link_text=gettext(link[1]) if link else None,
    )


def _date(moment: datetime | None, locale: str) -> str:
    if moment is None:
        return ""
    return moment.strftime("%d/%m/%Y %H:%M UTC" if locale == "pt-BR" else "%d %b %Y, %H:%M UTC")


def _link_refused(survey: Survey, request: Request, problem: LinkProblem) -> Response:
    locale = _locale(request)
    if problem.expired:
        return message_page(
            survey,
            request,
            locale,
            410,
            "This survey link has expired",
            "Survey links work for a limited time after your support contact. Thank you all "
            "the same: if you would like to tell us something, reply to our e-mail.",
        )
    return message_page(
        survey,
        request,
        locale,
        404,
        "This survey link is not valid",
        "The link may have been cut short or changed. Please open it again from your e-mail, "
        "or copy the whole address into your browser.",
    )


def _unavailable(survey: Survey, request: Request, exc: DatabaseUnavailable) -> Response:
    log.error("survey_database_unavailable", error=str(exc))
    return message_page(
        survey,
        request,
        _locale(request),
        503,
        "The survey is unavailable for a moment",
        "Nothing was recorded. Please try again in a minute.",
        headers={"Retry-After": "60"},
    )


def _invitation(survey: Survey, token: str) -> uuid.UUID:
    return survey.links.invitation_id(token)


async def _state(survey: Survey, invitation: uuid.UUID) -> queries.InvitationState | None:
    return await run_in_threadpool(
        queries.invitation_state, survey.engine, invitation, survey.settings.survey_edit_hours
    )


def _form_page(
    survey: Survey,
    request: Request,
    token: str,
    invitation: uuid.UUID,
    state: queries.InvitationState,
    locale: str,
    *,
    values: dict[str, str],
    problems: dict[str, str] | None = None,
    autorecord: bool = False,
    status_code: int = 200,
) -> Response:
    editable_until = None
    if state.answered_at is not None:
        editable_until = _date(
            state.answered_at + timedelta(hours=survey.settings.survey_edit_hours), locale
        )
    return _render(
        survey,
        request,
        "survey.html",
        locale,
        status_code=status_code,
        action=f"/s/{token}",
        csrf_token=survey.links.form_token(invitation),
        values=values,
        problems=problems or {},
        answered=state.answered,
        editable_until=editable_until,
        autorecord=autorecord,
        autorecord_after_ms=AUTORECORD_AFTER_MS,
        csat_labels=CSAT_LABELS,
        comment_max=form.COMMENT_MAX,
    )


def _closed_page(survey: Survey, request: Request, state, locale: str, status: int) -> Response:
    return message_page(
        survey,
        request,
        locale,
        status,
        "Your answer has been recorded",
        "You answered on %(date)s. Answers can be changed for %(hours)s hours; this one "
        "can no longer be changed. Thank you for your feedback.",
        date=_date(state.answered_at, locale),
        hours=survey.settings.survey_edit_hours,
    )


async def _invitation_and_state(
    survey: Survey, request: Request, token: str
) -> tuple[uuid.UUID, queries.InvitationState] | Response:
    """The invitation a token names and its state, or the page that refuses the token."""
    try:
        invitation = _invitation(survey, token)
        state = await _state(survey, invitation)
    except LinkProblem as problem:
        return _link_refused(survey, request, problem)
    except DatabaseUnavailable as exc:
        return _unavailable(survey, request, exc)
    if state is None:
        return _link_refused(survey, request, LinkProblem("unknown", expired=False))
    return invitation, state


# --- handlers -----------------------------------------------------------------------------


async def show_survey(request: Request) -> Response:
    """GET: the questions. Records nothing, so a mail scanner following the link changes
    nothing; the score of the link is preselected and, with JavaScript, recorded by the page
    itself once it has been visible for a few seconds."""
    survey: Survey = request.app.state.survey
    token = request.path_params["token"]
    found = await _invitation_and_state(survey, request, token)
    if isinstance(found, Response):
        return found
    invitation, state = found
    locale = _locale(request, state)
    if state.answered and not state.editable:
        return _closed_page(survey, request, state, locale, 200)
    if state.expired and not state.answered:
        return _link_refused(survey, request, LinkProblem("expired", expired=True))
    clicked = form.preselected_score(request.query_params.get("score"))
    nps = clicked if clicked is not None else state.nps_score
    values = {
        form.NPS_FIELD: "" if nps is None else str(nps),
        form.CSAT_FIELD: "" if state.csat_score is None else str(state.csat_score),
        form.COMMENT_FIELD: state.comment or "",
    }
    return _form_page(
        survey,
        request,
        token,
        invitation,
        state,
        locale,
        values=values,
        autorecord=clicked is not None and not state.answered,
    )


def _same_origin(request: Request, settings: SurveySettings) -> bool:
    """Whether the browser says the POST comes from a page of this service. Fetch metadata
    first (`Sec-Fetch-Site`, sent by current browsers whatever the referrer policy); then the
    Origin header, which under `Referrer-Policy: no-referrer` a form's POST carries as "null".
    A client that sends neither (an old browser, curl) is judged by the CSRF token alone."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin in (settings.public_origin, own)


async def record_survey(request: Request) -> Response:
    """POST: checks the link, the form's origin and CSRF token, the rate limits and the
    answer, then records it (or edits the one recorded) and redirects to the thanks page."""
    survey: Survey = request.app.state.survey
    settings = survey.settings
    token = request.path_params["token"]
    locale = locales.negotiate(request.headers.get("accept-language"))
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        invitation = _invitation(survey, token)
    except LinkProblem as problem:
        return _link_refused(survey, request, problem)

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return message_page(
            survey,
            request,
            locale,
            415,
            "Your answer could not be read",
            "Please send it from the survey page.",
            link=(f"/s/{token}", "Back to the survey"),
        )
    try:
        fields = form.parse_body(await _bounded_body(request, form.MAX_BODY_BYTES))
    except BodyTooLarge:
        return message_page(
            survey,
            request,
            locale,
            413,
            "Your answer is too long",
            "Please shorten your comment to at most 1,000 characters and send it again.",
            link=(f"/s/{token}", "Back to the survey"),
        )
    except form.BodyProblem:
        return message_page(
            survey,
            request,
            locale,
            400,
            "Your answer could not be read",
            "It held characters that are not valid text (not UTF-8). Please type your answer "
            "again on the survey page.",
            link=(f"/s/{token}", "Back to the survey"),
        )

    if not _same_origin(request, settings):
        log.warning("survey_post_refused", reason="foreign origin")
        return _form_refused(survey, request, token, locale)
    try:
        age = survey.links.form_age(
            fields.get(form.CSRF_FIELD, ""), invitation, FORM_MAX_AGE_SECONDS
        )
    except LinkProblem:
        log.warning("survey_post_refused", reason="missing or wrong CSRF token")
        return _form_refused(survey, request, token, locale)

    address = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        survey.trusted_proxies,
    )
    reading = form.read_answer(
        fields, age_seconds=age, min_seconds=settings.survey_min_submit_seconds
    )
    try:
        done = await run_in_threadpool(
            queries.submit, survey.engine, address, invitation, reading.answer, settings
        )
        if done.limit is not None:
            return _rate_limited(survey, request, locale, done.limit)
        if reading.answer is None:
            if done.state is None:
                return _link_refused(survey, request, LinkProblem("unknown", expired=False))
            if wants_json:
                return JSONResponse({"outcome": "invalid", "problems": reading.problems}, 422)
            return _form_page(
                survey,
                request,
                token,
                invitation,
                done.state,
                _locale(request, done.state),
                values=reading.values,
                problems=reading.problems,
                status_code=422,
            )
        recorded = done.recorded
        if recorded.outcome == "closed":  # rare: the page needs the invitation's language
            state = await _state(survey, invitation)
            locale = _locale(request, state)
    except DatabaseUnavailable as exc:
        return _unavailable(survey, request, exc)

    log.info(
        "survey_answer",
        outcome=recorded.outcome,
        score_only=reading.answer.score_only,
        suspected_bot=reading.answer.suspected_bot,
    )
    if wants_json:
        status = {"recorded": 200, "updated": 200, "already_answered": 200}.get(
            recorded.outcome, 409
        )
        return JSONResponse({"outcome": recorded.outcome}, status)
    if recorded.outcome in ("recorded", "updated"):
        return RedirectResponse(f"/s/{token}/thanks", status_code=303)
    if recorded.outcome == "closed":
        return _closed_page(survey, request, recorded, locale, 409)
    if recorded.outcome == "expired":
        return _link_refused(survey, request, LinkProblem("expired", expired=True))
    return _link_refused(survey, request, LinkProblem("unknown", expired=False))


class BodyTooLarge(Exception):
    """A request body over the limit: refused before it is read whole."""


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, read only up to `limit` bytes (a 5 MB comment is never held in memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge()
    return bytes(body)


def _form_refused(survey: Survey, request: Request, token: str, locale: str) -> Response:
    return message_page(
        survey,
        request,
        locale,
        403,
        "Your answer was not recorded",
        "The form was too old, or it was not sent from the survey page. Please open the survey "
        "again and send your answer from there.",
        link=(f"/s/{token}", "Open the survey again"),
    )


def _rate_limited(survey: Survey, request: Request, locale: str, limit) -> Response:
    log.warning("survey_rate_limited", limited_by=limit.limited_by)
    minutes = max(1, round(limit.retry_after_seconds / 60))
    return message_page(
        survey,
        request,
        locale,
        429,
        "Too many answers at once",
        "We received many answers from your network or for this survey in a short time, so "
        "this one was not recorded. Please try again in %(minutes)s minutes.",
        headers={"Retry-After": str(int(limit.retry_after_seconds) + 1)},
        minutes=minutes,
    )


async def show_thanks(request: Request) -> Response:
    survey: Survey = request.app.state.survey
    token = request.path_params["token"]
    found = await _invitation_and_state(survey, request, token)
    if isinstance(found, Response):
        return found
    _, state = found
    if not state.answered:
        return RedirectResponse(f"/s/{token}", status_code=303)
    locale = _locale(request, state)
    return message_page(
        survey,
        request,
        locale,
        200,
        "Thank you for your answer",
        "It helps us improve our support. You can close this page.",
        link=(f"/s/{token}", "Change my answer") if state.editable else None,
    )


async def healthz(request: Request) -> Response:
    survey: Survey = request.app.state.survey
    try:
        await run_in_threadpool(queries.check_database, survey.engine)
    except DatabaseUnavailable as exc:
        log.error("healthz_failed", error=str(exc))
        return PlainTextResponse("database unavailable\n", status_code=503)
    return PlainTextResponse("ok\n")


async def not_found(request: Request) -> Response:
    survey: Survey = request.app.state.survey
    return message_page(
        survey,
        request,
        _locale(request),
        404,
        "There is nothing here",
        "To answer a survey, open the link from your e-mail.",
    )
