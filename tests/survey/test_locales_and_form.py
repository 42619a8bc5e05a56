"""The pure parts of the survey: language negotiation, the Portuguese catalog's completeness,
reading a submitted form, and the link tokens."""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import pytest

from npscsat.survey_links import LinkProblem, SurveyLinks
from survey import form, locales
from survey.app import _templates
from survey.messages_pt_br import PT_BR

SURVEY = Path(__file__).resolve().parents[2] / "survey"


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en"),
        ("", "en"),
        ("pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("pt", "pt-BR"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,pt;q=0.8,en;q=0.7", "pt-BR"),
        ("en;q=0.4,pt-BR;q=0.6", "pt-BR"),
        ("fr-FR", "en"),
        ("pt;q=0, en", "en"),
        ("*;q=0.5, garbage;q=x", "en"),
    ],
)
def test_the_language_follows_accept_language(header, locale):
    assert locales.negotiate(header) == locale


def _template_messages() -> set[str]:
    """Jinja2's own extraction, plus the calls with %(name)s values, which it passes over."""
    env = _templates().env
    found = set()
    for path in (SURVEY / "templates").glob("*.html"):
        source = path.read_text()
        for _, _, message in env.extract_translations(source):
            if isinstance(message, str):
                found.add(message)
        found |= set(re.findall(r'_\("([^"]+)"', source))
    return found


def _code_messages() -> set[str]:
    """English sentences handed to message_page / shown as problems in the code."""
    found = set()
    for name in ("pages.py", "app.py", "form.py"):
        tree = ast.parse((SURVEY / name).read_text())
        for node in ast.walk(tree):
            called = getattr(node, "func", None)
            if isinstance(node, ast.Call) and "message_page" in (
                getattr(called, "id", ""),
                getattr(called, "attr", ""),
            ):
                strings = node.args[4:]
                found |= {s.value for s in strings if isinstance(s, ast.Constant)}
                for keyword in node.keywords:
                    value = keyword.value
                    if isinstance(value, ast.IfExp):
                        value = value.body
                    if keyword.arg == "link" and isinstance(value, ast.Tuple):
                        found.add(value.elts[1].value)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                target = node.targets[0]
                if (
                    isinstance(target, ast.Subscript)
                    and getattr(target.value, "id", "") == "problems"
                ):
                    found.add(node.value.value)
    for _, label in __import__("survey.pages", fromlist=["CSAT_LABELS"]).CSAT_LABELS:
        found.add(label)
    return found


def test_every_message_has_a_brazilian_portuguese_translation():
    messages = _template_messages() | _code_messages()
    assert len(messages) > 40
    missing = sorted(messages - set(PT_BR))
    assert not missing, f"no pt-BR for: {missing}"
    unused = sorted(set(PT_BR) - messages)
    assert not unused, f"pt-BR for messages nothing shows: {unused}"
    for english, portuguese in PT_BR.items():  # placeholders survive translation
        assert english.count("%(") == portuguese.count("%("), english


def test_reading_a_form():
    reading = form.read_answer(
        {"nps_score": " 7 ", "csat_score": "", "comment": "a\r\nb ", "website": ""},
        age_seconds=5,
        min_seconds=2,
    )
    assert reading.answer == form.Answer(7, None, "a\nb", False, False)
    flagged = form.read_answer({"nps_score": "7", "website": "x"}, age_seconds=5, min_seconds=2)
    assert flagged.answer.suspected_bot
    quick = form.read_answer({"nps_score": "7"}, age_seconds=1, min_seconds=2)
    assert quick.answer.suspected_bot
    score_only = form.read_answer(
        {"nps_score": "7", "csat_score": "5", "comment": "x", "score_only": "1"},
        age_seconds=5,
        min_seconds=2,
    )
    assert score_only.answer == form.Answer(7, None, None, True, False)
    for bad in ({"nps_score": "x"}, {"nps_score": "7.5"}, {"csat_score": "6"}, {}):
        assert form.read_answer(bad, age_seconds=5, min_seconds=2).answer is None


def test_parsing_a_body_is_strict():
    assert form.parse_body(b"comment=caf%C3%A9&nps_score=3") == {
        "comment": "café",
        "nps_score": "3",
    }
    with pytest.raises(form.BodyProblem):
        form.parse_body(b"comment=%C3%28")
    with pytest.raises(form.BodyProblem):
        form.parse_body("comment=café".encode())
    with pytest.raises(form.BodyProblem):
        form.parse_body(b"&".join(b"f%d=1" % i for i in range(form.MAX_FIELDS + 1)))


def test_link_tokens_carry_the_invitation_and_nothing_else():
    links = SurveyLinks("k" * 40, "https://survey.example.org/", 30)
    invitation = uuid.uuid4()
    link = links.link(invitation, 4)
    assert link.startswith("https://survey.example.org/s/") and link.endswith("?score=4")
    token = link.removeprefix("https://survey.example.org/s/").removesuffix("?score=4")
    assert links.invitation_id(token) == invitation
    assert len(links.score_links(invitation)) == 11
    with pytest.raises(LinkProblem) as problem:
        SurveyLinks("j" * 40, "https://x", 30).invitation_id(token)
    assert not problem.value.expired
    form_token = links.form_token(invitation)
    with pytest.raises(LinkProblem):  # a form token is no link, and the reverse
        links.invitation_id(form_token)
    with pytest.raises(LinkProblem):
        links.form_age(token, invitation, 60)
    assert 0 <= links.form_age(form_token, invitation, 60) < 5
