"""Reading a submitted survey form. Pure: no web framework, no database.

The body is parsed strictly (UTF-8 only, a bounded number of fields) by the standard library's
urlencoded parser; the fields are checked and turned into an Answer, or into the problems the
page shows beside each field. The honeypot and the time since the form was shown decide
whether the answer is flagged as a suspected bot (kept, but not counted by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from survey.queries import Answer

NPS_FIELD, CSAT_FIELD, COMMENT_FIELD = "nps_score", "csat_score", "comment"
CSRF_FIELD = "csrf_token"
HONEYPOT_FIELD = "website"  # hidden from people; bots fill in anything called like this
SCORE_ONLY_FIELD = "score_only"  # set by the page's script for its own POST of the score
COMMENT_MAX = 1000  # the database's CHECK on app.survey_response.comment
MAX_FIELDS = 20
MAX_BODY_BYTES = 16 * 1024  # a full answer is under 4 KB even in multi-byte characters


class BodyProblem(Exception):
    """A request body that is not a form we can read (not UTF-8, malformed)."""


def parse_body(body: bytes) -> dict[str, str]:
    """The fields of an application/x-www-form-urlencoded body; the last value of a repeated
    name wins. Raises BodyProblem for bytes that are not UTF-8 text."""
    try:
        text = body.decode("ascii")  # browsers percent-encode everything else
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise BodyProblem("the answer is not UTF-8 text") from None
    except ValueError:
        raise BodyProblem("the form has too many fields") from None
    return dict(pairs)


@dataclass
class Reading:
    """A submitted form: what it said (to show again), the answer, and what is wrong with it."""

    values: dict[str, str]
    answer: Answer | None = None
    problems: dict[str, str] = field(default_factory=dict)  # field -> message id


def _score(raw: str, low: int, high: int) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(raw)
    return int(raw)


def read_answer(fields: dict[str, str], *, age_seconds: float, min_seconds: float) -> Reading:
    """Checks the fields. An answer needs an NPS or a CSAT score; the comment is optional and
    at most COMMENT_MAX characters (line ends counted once)."""
    comment = fields.get(COMMENT_FIELD, "").replace("\r\n", "\n").strip()
    reading = Reading(
        values={
            NPS_FIELD: fields.get(NPS_FIELD, "").strip(),
            CSAT_FIELD: fields.get(CSAT_FIELD, "").strip(),
            COMMENT_FIELD: comment,
        }
    )
    problems = reading.problems
    try:
        nps = _score(reading.values[NPS_FIELD], 0, 10)
    except ValueError:
        nps = None
        problems[NPS_FIELD] = "Choose a score from 0 to 10."
    try:
        csat = _score(reading.values[CSAT_FIELD], 1, 5)
    except ValueError:
        csat = None
        problems[CSAT_FIELD] = "Choose a rating from 1 to 5."
    if len(comment) > COMMENT_MAX:
        problems[COMMENT_FIELD] = "Your comment is longer than 1,000 characters; please shorten it."
    if nps is None and csat is None and not problems:
        problems[NPS_FIELD] = "Choose a score, or a rating below, before sending."
    if problems:
        return reading
    score_only = fields.get(SCORE_ONLY_FIELD) == "1"
    reading.answer = Answer(
        nps_score=nps,
        csat_score=None if score_only else csat,
        comment=None if score_only or not comment else comment,
        score_only=score_only,
        suspected_bot=bool(fields.get(HONEYPOT_FIELD, "").strip()) or age_seconds < min_seconds,
    )
    return reading


def preselected_score(raw: str | None) -> int | None:
    """The ?score=N of an e-mail's link, when it is a valid NPS score."""
    try:
        return _score(raw or "", 0, 10)
    except ValueError:
        return None
