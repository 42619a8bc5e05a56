"""The survey page against the real database through the survey's own role: a scanner's GET
records nothing, the page's own POST records the clicked score, answers are edited within the
window and refused after it, and every bad request gets a clear page and a 4xx."""

from __future__ import annotations

import time
from datetime import timedelta

import itsdangerous.timed
import pytest
from sqlalchemy import text

from tests.survey.conftest import CSRF, answers, invite, make_client

JSON = {"Accept": "application/json"}


def test_a_scanner_following_every_score_link_records_nothing(db, survey_client):
    invitation = invite(db.engine)
    for score in range(11):
        page = survey_client.client.get(survey_client.link(invitation, score))
        assert page.status_code == 200
        assert f'id="nps_score-{score}" value="{score}"\n                 checked' in page.text
        assert 'data-autorecord="1"' in page.text  # the page itself may record, later
    survey_client.client.head(survey_client.link(invitation, 3))
    assert answers(db.engine) == []


def test_the_pages_own_post_records_the_clicked_score_and_the_full_answer_updates_it(
    db, survey_client
):
    invitation = invite(db.engine, "T-7")
    csrf = survey_client.form(invitation, score=3)
    recorded = survey_client.client.post(
        survey_client.path(invitation),
        data={"csrf_token": csrf, "nps_score": "3", "score_only": "1"},
        headers=JSON,
    )
    assert recorded.status_code == 200 and recorded.json() == {"outcome": "recorded"}
    ((external_id, source, nps, csat, comment, bot, _),) = answers(db.engine)
    assert (external_id, source, nps, csat, comment, bot) == ("T-7", "survey", 3, None, None, False)

    # Opening the link again does not overwrite it; the full answer does.
    again = survey_client.client.post(
        survey_client.path(invitation),
        data={"csrf_token": csrf, "nps_score": "9", "score_only": "1"},
        headers=JSON,
    )
    assert again.json() == {"outcome": "already_answered"}
    full = survey_client.answer(invitation, nps_score="4", csat_score="2", comment="Slow reply")
    assert full.status_code == 303 and full.headers["location"].endswith("/thanks")
    assert [tuple(a)[:6] for a in answers(db.engine)] == [
        ("T-7", "survey", 4, 2, "Slow reply", False)
    ]
    thanks = survey_client.client.get(full.headers["location"])
    assert "Thank you for your answer" in thanks.text and "Change my answer" in thanks.text


def test_an_answer_is_edited_within_the_window_and_refused_after_it(db, survey_client):
    invitation = invite(db.engine, "T-8")
    assert survey_client.answer(invitation, nps_score="10", csat_score="5").status_code == 303
    edit = survey_client.answer(invitation, nps_score="6", csat_score="3", comment="Changed")
    assert edit.status_code == 303
    page = survey_client.client.get(survey_client.link(invitation))
    assert "You have already answered" in page.text and "Changed</textarea>" in page.text
    assert "data-autorecord" not in page.text
    with db.engine.begin() as conn:  # the first answer was given 25 hours ago
        conn.execute(
            text("UPDATE app.survey_response SET responded_at = responded_at - interval '25 hours'")
        )
    closed = survey_client.client.get(survey_client.link(invitation))
    assert closed.status_code == 200 and "Your answer has been recorded" in closed.text
    assert "csrf_token" not in closed.text  # no form any more
    form = CSRF.search(page.text).group(1)  # a form kept open from before
    late = survey_client.client.post(
        survey_client.path(invitation),
        data={"csrf_token": form, "nps_score": "0", "csat_score": "1"},
        follow_redirects=False,
    )
    assert late.status_code == 409 and "can no longer be changed" in late.text
    assert [tuple(a)[:5] for a in answers(db.engine)] == [("T-8", "survey", 6, 3, "Changed")]


def test_one_row_per_invitation_whatever_is_sent(db, survey_client):
    invitation = invite(db.engine, "T-9")
    for score in ("1", "2", "3"):
        survey_client.answer(invitation, nps_score=score)
    assert len(answers(db.engine)) == 1


def _altered_signature(token: str) -> str:
    payload, signature = token.rsplit(".", 1)
    return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    "mangle",
    [
        # altered signature: its first character (the last one may carry only padding bits, and
        # a change there can decode to the same signature)
        _altered_signature,
        lambda token: "x" + token[1:],  # altered payload
        lambda token: token.split(".")[0],  # cut short
        lambda token: "not-a-token",
        lambda token: "a" * 300,
    ],
    ids=["signature", "payload", "cut", "garbage", "long"],
)
def test_forged_and_altered_tokens_get_a_clear_page_and_a_404(db, survey_client, mangle):
    invitation = invite(db.engine)
    token = survey_client.settings.links.token(invitation)
    for method in ("get", "post"):
        answer = getattr(survey_client.client, method)(f"/s/{mangle(token)}")
        assert answer.status_code == 404
        assert "This survey link is not valid" in answer.text
        assert "Traceback" not in answer.text
    assert answers(db.engine) == []


def test_a_token_signed_with_another_key_is_refused(db, survey_client):
    from npscsat.survey_links import SurveyLinks

    invitation = invite(db.engine)
    other = SurveyLinks("another-key-of-at-least-32-bytes-long!!", "http://testserver", 30)
    assert survey_client.client.get(f"/s/{other.token(invitation)}").status_code == 404


def test_an_expired_token_and_an_expired_invitation_get_a_410(db, survey_client, monkeypatch):
    invitation = invite(db.engine)
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner,
        "get_timestamp",
        lambda self: real(self) - 31 * 86_400,
    )
    old = survey_client.settings.links.token(invitation)
    monkeypatch.undo()
    page = survey_client.client.get(f"/s/{old}?score=5")
    assert page.status_code == 410 and "This survey link has expired" in page.text

    lapsed = invite(db.engine, "T-old", expires_in=timedelta(hours=1))  # invited a day ago
    page = survey_client.client.get(survey_client.link(lapsed))
    assert page.status_code == 410
    assert answers(db.engine) == []


def test_an_unknown_invitation_is_a_404(survey_client):
    import uuid

    page = survey_client.client.get(survey_client.link(uuid.uuid4()))
    assert page.status_code == 404 and "not valid" in page.text


@pytest.mark.parametrize(
    "csrf",
    [None, "", "forged.token.value", "wrong"],
    ids=["missing", "empty", "forged", "wrong"],
)
def test_a_missing_or_wrong_csrf_token_is_refused(db, survey_client, csrf):
    invitation = invite(db.engine)
    data = {"nps_score": "8"} | ({} if csrf is None else {"csrf_token": csrf})
    refused = survey_client.client.post(survey_client.path(invitation), data=data)
    assert refused.status_code == 403 and "Your answer was not recorded" in refused.text
    assert answers(db.engine) == []


def test_a_csrf_token_of_another_invitation_and_a_foreign_origin_are_refused(db, survey_client):
    mine, other = invite(db.engine, "A"), invite(db.engine, "B")
    token_of_other = survey_client.form(other)
    refused = survey_client.client.post(
        survey_client.path(mine), data={"csrf_token": token_of_other, "nps_score": "8"}
    )
    assert refused.status_code == 403
    foreign = survey_client.client.post(
        survey_client.path(mine),
        data={"csrf_token": survey_client.form(mine), "nps_score": "8"},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    cross_site = survey_client.client.post(
        survey_client.path(mine),
        data={"csrf_token": survey_client.form(mine), "nps_score": "8"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"},
    )
    assert cross_site.status_code == 403
    assert answers(db.engine) == []
    # What a browser sends for the page's own form under Referrer-Policy: no-referrer.
    own = survey_client.client.post(
        survey_client.path(mine),
        data={"csrf_token": survey_client.form(mine), "nps_score": "8"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        follow_redirects=False,
    )
    assert own.status_code == 303


def test_the_honeypot_and_a_too_quick_answer_are_kept_as_suspected_bots(db):
    quick = make_client(db, survey_min_submit_seconds=30)
    with quick.client:
        fast = invite(db.engine, "fast")
        assert quick.answer(fast, nps_score="10").status_code == 303
    patient = make_client(db, survey_min_submit_seconds=0)
    with patient.client:
        trap = invite(db.engine, "trap")
        assert patient.answer(trap, nps_score="10", website="http://spam").status_code == 303
        human = invite(db.engine, "human")
        assert patient.answer(human, nps_score="3").status_code == 303
    rows = {a.external_id: a.suspected_bot for a in answers(db.engine)}
    assert rows == {"fast": True, "trap": True, "human": False}
    with db.engine.connect() as conn:
        sources = dict(
            conn.execute(text("SELECT source, responses FROM reporting.response_source")).all()
        )
        rate = conn.execute(
            text("SELECT sum(invited), sum(answered) FROM reporting.invitation_rollup")
        ).one()
    # Kept, under a source of their own that the dashboard leaves out by default.
    assert sources == {"survey": 1, "survey:suspected_bot": 2}
    assert tuple(rate) == (3, 1)  # the response rate counts the person, not the bots


def test_a_too_long_comment_is_shown_again_with_a_clear_message(db, survey_client):
    invitation = invite(db.engine)
    long = "é" * 1001
    refused = survey_client.answer(invitation, nps_score="7", comment=long)
    assert refused.status_code == 422
    assert "longer than 1,000 characters" in refused.text
    assert long in refused.text  # nothing the person typed is lost
    assert answers(db.engine) == []
    exactly = survey_client.answer(invitation, nps_score="7", comment="é" * 1000)
    assert exactly.status_code == 303


def test_an_oversized_body_gets_a_413_page(db, survey_client):
    invitation = invite(db.engine)
    refused = survey_client.answer(invitation, nps_score="7", comment="x" * 5_000_000)
    assert refused.status_code == 413 and "Your answer is too long" in refused.text
    assert answers(db.engine) == []


@pytest.mark.parametrize(
    "body",
    [
        b"nps_score=7&comment=%ff%fe",  # percent-encoded bytes that are not UTF-8
        "nps_score=7&comment=caf\xe9".encode("latin-1"),  # a raw Latin-1 byte
    ],
    ids=["percent-encoded", "raw"],
)
def test_a_comment_that_is_not_utf8_gets_a_400_page(db, survey_client, body):
    invitation = invite(db.engine)
    csrf = survey_client.form(invitation)
    refused = survey_client.client.post(
        survey_client.path(invitation),
        content=f"csrf_token={csrf}&".encode() + body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status_code == 400 and "not UTF-8" in refused.text
    assert answers(db.engine) == []


def test_bad_scores_and_no_score_are_refused_by_name(db, survey_client):
    invitation = invite(db.engine)
    for fields, message in (
        ({"nps_score": "11"}, "Choose a score from 0 to 10."),
        ({"nps_score": "-1"}, "Choose a score from 0 to 10."),
        ({"csat_score": "0"}, "Choose a rating from 1 to 5."),
        ({"comment": "only words"}, "Choose a score, or a rating below"),
    ):
        refused = survey_client.answer(invitation, **fields)
        assert refused.status_code == 422 and message in refused.text, fields
    assert answers(db.engine) == []


def test_csat_only_is_an_answer(db, survey_client):
    invitation = invite(db.engine)
    assert survey_client.answer(invitation, csat_score="4").status_code == 303
    assert [tuple(a)[2:4] for a in answers(db.engine)] == [(None, 4)]


def test_html_and_script_in_a_comment_are_shown_as_text(db, survey_client):
    invitation = invite(db.engine)
    comment = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    assert survey_client.answer(invitation, nps_score="5", comment=comment).status_code == 303
    page = survey_client.client.get(survey_client.link(invitation))
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert answers(db.engine)[0].comment == comment  # stored as typed


def test_rate_limits_per_invitation_and_per_address_answer_429_with_a_clear_page(db):
    per_invitation = make_client(db, survey_rate_limit_per_invitation=3)
    with per_invitation.client:
        invitation = invite(db.engine, "busy")
        statuses = [
            per_invitation.answer(invitation, nps_score=str(s)).status_code for s in range(5)
        ]
        assert statuses == [303, 303, 303, 429, 429]
        limited = per_invitation.answer(invitation, nps_score="1")
        assert "Too many answers at once" in limited.text
        assert int(limited.headers["Retry-After"]) > 0
    # Per address: a second process (another replica) counts on the same rows.
    first = make_client(db, "198.51.100.7", survey_rate_limit_per_address=4)
    second = make_client(db, "198.51.100.7", survey_rate_limit_per_address=4)
    neighbour = make_client(db, "198.51.100.8", survey_rate_limit_per_address=4)
    with first.client, second.client, neighbour.client:
        invitations = [invite(db.engine, f"n-{i}") for i in range(6)]
        codes = [
            (first if i % 2 else second).answer(inv, nps_score="9").status_code
            for i, inv in enumerate(invitations[:5])
        ]
        assert codes == [303, 303, 303, 303, 429]
        assert neighbour.answer(invitations[5], nps_score="9").status_code == 303


def test_the_address_behind_a_trusted_proxy_is_the_forwarded_one(db):
    proxy = make_client(
        db, "10.0.0.5", survey_rate_limit_per_address=1, survey_trusted_proxies="10.0.0.0/8"
    )
    with proxy.client:
        a, b, c = (invite(db.engine, name) for name in "abc")
        assert (
            proxy.answer(a, nps_score="1", headers={"X-Forwarded-For": "192.0.2.1"}).status_code
            == 303
        )
        assert (
            proxy.answer(b, nps_score="1", headers={"X-Forwarded-For": "192.0.2.2"}).status_code
            == 303
        )
        again = proxy.answer(c, nps_score="1", headers={"X-Forwarded-For": "192.0.2.1"})
        assert again.status_code == 429


def test_security_headers_and_no_caching(db, survey_client):
    invitation = invite(db.engine)
    for answer in (
        survey_client.client.get(survey_client.link(invitation, 4)),
        survey_client.client.get("/s/broken"),
        survey_client.client.get("/nowhere"),
    ):
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-frame-options"] == "DENY"
    page = survey_client.client.get(survey_client.link(invitation, 4)).text
    assert "<script>" not in page and " on" + "click=" not in page  # no inline script at all
    assert '<script src="/static/survey.js" defer></script>' in page
    assert 'style="' not in page  # no inline style either (style-src 'self')


def test_english_and_brazilian_portuguese(db, survey_client):
    plain = invite(db.engine, "plain")
    page = survey_client.client.get(
        survey_client.link(plain), headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}
    )
    assert '<html lang="pt-BR">' in page.text and "Qual a probabilidade" in page.text
    page = survey_client.client.get(
        survey_client.link(plain), headers={"Accept-Language": "de-DE,en;q=0.8"}
    )
    assert '<html lang="en">' in page.text and "How likely are you" in page.text
    chosen = invite(db.engine, "chosen", locale="pt-BR")  # the invitation's locale wins
    page = survey_client.client.get(survey_client.link(chosen), headers={"Accept-Language": "en"})
    assert "Enviar minha resposta" in page.text
    refused = survey_client.client.get("/s/broken", headers={"Accept-Language": "pt-BR"})
    assert "Este link da pesquisa não é válido" in refused.text


def test_the_form_is_accessible_without_javascript(db, survey_client):
    invitation = invite(db.engine)
    page = survey_client.client.get(survey_client.link(invitation)).text
    assert '<meta name="viewport"' in page
    for score in range(11):
        assert f'<label for="nps_score-{score}">' in page
    for rating in range(1, 6):
        assert f'<label for="csat_score-{rating}">' in page
    assert '<label for="comment">' in page and "<legend>" in page
    assert '<form method="post"' in page and '<button type="submit">' in page
    assert 'tabindex="-1"' in page and 'aria-hidden="true"' in page  # the honeypot


def test_healthz_answers_200_and_503_when_the_database_is_down(db, survey_client):
    assert survey_client.client.get("/healthz").status_code == 200
    from starlette.testclient import TestClient

    from npscsat.db import create_db_engine
    from survey.app import create_app

    down = create_db_engine(db.survey_url.set(port=1), application_name="down", connect_timeout=1)
    with TestClient(create_app(survey_client.settings, down)) as client:
        assert client.get("/healthz").status_code == 503
        invitation = invite(db.engine)
        page = client.get(survey_client.link(invitation))
        assert page.status_code == 503 and "unavailable for a moment" in page.text
    down.dispose()


def test_a_form_sent_after_the_minimum_time_is_not_flagged(db):
    patient = make_client(db, survey_min_submit_seconds=1)
    with patient.client:
        invitation = invite(db.engine)
        csrf = patient.form(invitation)
        time.sleep(2.1)
        patient.client.post(patient.path(invitation), data={"csrf_token": csrf, "nps_score": "8"})
    assert [a.suspected_bot for a in answers(db.engine)] == [False]
