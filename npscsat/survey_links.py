"""Personal survey links: `SURVEY_PUBLIC_URL/s/<token>`, the token signed with SURVEY_SIGNING_KEY.

The job signs (`python -m jobs invite`), the survey service verifies. The token is an
itsdangerous URL-safe timed signature of the invitation's id: it cannot be forged or altered
without the key, and it expires after SURVEY_LINK_DAYS. It carries nothing else (no e-mail
address, no name), so a link that leaks tells nothing about the person.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from npscsat.config import AppEnv, secret_problem

# Separate salts: a token of one kind is never accepted as the other.
_LINK_SALT = "npscsat.survey.invitation"
_FORM_SALT = "npscsat.survey.form"
MIN_SIGNING_KEY_BYTES = 32
NPS_SCORES = range(11)


class LinkProblem(Exception):
    """A survey token that cannot be used; `expired` tells an old link from a forged one."""

    def __init__(self, message: str, *, expired: bool) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class SurveyLinks:
    signing_key: str
    public_url: str  # e.g. https://survey.example.org (no trailing slash needed)
    link_days: int

    @functools.cached_property
    def _link_serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.signing_key, salt=_LINK_SALT)

    @functools.cached_property
    def _form_serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.signing_key, salt=_FORM_SALT)

    def token(self, invitation_id: uuid.UUID) -> str:
        return self._link_serializer.dumps(invitation_id.hex)

    def link(self, invitation_id: uuid.UUID, score: int | None = None) -> str:
        base = f"{self.public_url.rstrip('/')}/s/{self.token(invitation_id)}"
        return base if score is None else f"{base}?score={score}"

    def score_links(self, invitation_id: uuid.UUID) -> list[str]:
        """The eleven links of an e-mail, ?score=0 to ?score=10, one token for all."""
        base = self.link(invitation_id)
        return [f"{base}?score={score}" for score in NPS_SCORES]

    def invitation_id(self, token: str) -> uuid.UUID:
        """The invitation a token was signed for; LinkProblem when forged, altered or expired."""
        if len(token) > 200:
            raise LinkProblem("the link is too long to be one of ours", expired=False)
        try:
            value = self._link_serializer.loads(token, max_age=self.link_days * 86_400)
        except SignatureExpired:
            raise LinkProblem("the link has expired", expired=True) from None
        except BadSignature:
            raise LinkProblem("the link is not valid", expired=False) from None
        try:
            return uuid.UUID(hex=value)
        except (TypeError, ValueError):
            raise LinkProblem("the link is not valid", expired=False) from None

    def form_token(self, invitation_id: uuid.UUID) -> str:
        """The CSRF token of a rendered form: bound to its invitation, and signed with the time
        it was rendered (the minimum time to submit is measured from it)."""
        return self._form_serializer.dumps(invitation_id.hex)

    def form_age(self, token: str, invitation_id: uuid.UUID, max_age_seconds: int) -> float:
        """Seconds since the form carrying `token` was rendered for this invitation; raises
        LinkProblem when the token is missing, forged, for another invitation or too old."""
        serializer = self._form_serializer
        try:
            value, signed_at = serializer.loads(
                token, max_age=max_age_seconds, return_timestamp=True
            )
        except SignatureExpired:
            raise LinkProblem("the form is too old", expired=True) from None
        except BadSignature:
            raise LinkProblem("the form token is not valid", expired=False) from None
        if value != invitation_id.hex:
            raise LinkProblem("the form token belongs to another invitation", expired=False)
        return (datetime.now(UTC) - signed_at).total_seconds()


def public_url_problem(value: str) -> str | None:
    """Why a SURVEY_PUBLIC_URL cannot be the base of the links, or None."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"'{value}' is not an http:// or https:// URL"
    if parts.query or parts.fragment:
        return f"'{value}' must not hold a query or a fragment"
    return None


def signing_key_problem(value: str, app_env: AppEnv) -> str | None:
    """Why SURVEY_SIGNING_KEY is unacceptable, or None: 32 bytes always; in production no
    placeholder or demo value (the same rules as the other secrets)."""
    size = len(value.encode("utf-8"))
    if size < MIN_SIGNING_KEY_BYTES:
        return (
            f"must be at least {MIN_SIGNING_KEY_BYTES} bytes (got {size}); generate one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
        )
    return secret_problem(value, app_env, min_length=MIN_SIGNING_KEY_BYTES)
