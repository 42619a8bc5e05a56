"""`python -m jobs invite`: invitations stored once per external_id, links that the survey
accepts, and, with SMTP, e-mails through a real SMTP server (aiosmtpd, STARTTLS and a login)
whose eleven score links work. No e-mail address is stored anywhere."""

from __future__ import annotations

import csv
import datetime as dt
import email
import io
import ipaddress
import json
import re
import ssl
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text
from starlette.testclient import TestClient

from jobs.cli import main
from survey.app import create_app
from testkit.ports import free_port
from tests.survey.conftest import SIGNING_KEY, answers, survey_settings

CONTACTS = """external_id,channel,customer_type,email,locale
T-100,chat,individual,ana@example.com,pt-BR
T-101,Live chat,Enterprise,bob@example.org,en
T-102,phone,small_business,,
T-103,email,individual,carla@example.net,pt
"""
ADDRESSES = ("ana@example.com", "bob@example.org", "carla@example.net")
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-secret-password-1"


@pytest.fixture
def job_env(db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(False))
    monkeypatch.setenv("APP_ENV", "dev")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("SURVEY_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("SURVEY_PUBLIC_URL", "http://testserver")
    for name in ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM", "SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_invite(capsys, *args: str) -> tuple[int, list[dict]]:
    code = main(["invite", *args])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    return code, lines


def read_links(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def invitations(db) -> list:
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT external_id, channel, customer_type, locale, emailed_at IS NOT NULL "
                "FROM app.survey_invitation ORDER BY external_id"
            )
        ).all()


def no_address_is_stored(db) -> None:
    """Every row of every table in app and reporting, as text, holds none of the addresses."""
    with db.engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                "WHERE schemaname IN ('app', 'reporting')"
            )
        ).scalars()
        for table in list(tables):
            dump = " ".join(
                str(row) for row in conn.execute(text(f"SELECT t::text FROM {table} t"))
            )
            for address in ADDRESSES:
                assert address not in dump, f"{address} stored in {table}"


def test_invite_without_smtp_stores_once_and_writes_links_the_survey_accepts(
    db, job_env, capsys, tmp_path
):
    source = tmp_path / "contacts.csv"
    source.write_text(CONTACTS)
    out = tmp_path / "links.csv"
    code, lines = run_invite(capsys, str(source), "--out", str(out))
    assert code == 0, lines
    summary = lines[-1]
    assert (summary["event"], summary["invited"], summary["already_invited"]) == (
        "job_finished",
        4,
        0,
    )
    assert invitations(db) == [
        ("T-100", "chat", "individual", "pt-BR", False),
        ("T-101", "chat", "enterprise", "en", False),
        ("T-102", "phone", "small_business", None, False),
        ("T-103", "email", "individual", "pt-BR", False),
    ]
    rows = read_links(out)
    assert [r["external_id"] for r in rows] == ["T-100", "T-101", "T-102", "T-103"]
    assert list(rows[0]) == ["external_id", "link"]
    assert not any(a in out.read_text() for a in ADDRESSES)

    settings = survey_settings(db)
    with TestClient(create_app(settings, db.survey_engine)) as client:
        for row in rows:
            assert row["link"].startswith("http://testserver/s/")
            page = client.get(row["link"].removeprefix("http://testserver"))
            assert page.status_code == 200 and "csrf_token" in page.text
        portuguese = client.get(rows[0]["link"].removeprefix("http://testserver"))
        assert "Qual a probabilidade" in portuguese.text  # the invitation's locale

    again_out = tmp_path / "again.csv"
    code, lines = run_invite(capsys, str(source), "--out", str(again_out))
    assert code == 0 and (lines[-1]["invited"], lines[-1]["already_invited"]) == (0, 4)
    assert len(invitations(db)) == 4
    no_address_is_stored(db)
    assert not any(a in json.dumps(lines) for a in ADDRESSES)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "is empty"),
        ("external_id,channel\nT-1,chat\n", 'missing column "customer_type"'),
        ("external_id,channel,customer_type,phone\n", 'unknown column "phone"'),
        (
            "external_id,channel,customer_type\nT-1,fax,individual\n",
            'line 2, channel: "fax" is not a known channel; known codes: phone, email',
        ),
        (
            "external_id,channel,customer_type\nT-1,chat,alien\n",
            'line 2, customer_type: "alien" is not a known customer type',
        ),
        (
            "external_id,channel,customer_type,email\nT-1,chat,individual,not-an-address\n",
            'line 2, email: "not-an-address" is not an e-mail address',
        ),
        (
            "external_id,channel,customer_type,locale\nT-1,chat,individual,fr\n",
            'line 2, locale: "fr" is not en or pt-BR',
        ),
        (
            "external_id,channel,customer_type\nT-1,chat,individual\nT-1,chat,individual\n",
            'line 3, external_id: "T-1" is also on line 2',
        ),
        (
            "external_id,channel,customer_type\n,chat,individual\n",
            'line 2, external_id: "" must be 1 to 200 characters',
        ),
        ("external_id,channel,customer_type\nT-1,chat\n", "line 2: 2 fields where the header"),
    ],
    ids=[
        "empty",
        "missing",
        "unknown-column",
        "channel",
        "type",
        "email",
        "locale",
        "duplicate",
        "blank-id",
        "short-row",
    ],
)
def test_a_bad_file_is_refused_by_line_and_column_and_nothing_is_written(
    db, job_env, capsys, tmp_path, content, problem
):
    source = tmp_path / "bad.csv"
    source.write_text(content)
    code, lines = run_invite(capsys, str(source), "--out", str(tmp_path / "out.csv"))
    assert code == 1
    said = " ".join(line.get("problem", "") + " " + line.get("error", "") for line in lines)
    assert problem in said, said
    assert invitations(db) == [] and not (tmp_path / "out.csv").exists()


def test_contacts_from_stdin_and_links_to_stdout_keep_the_log_apart(db, job_env, capsys):
    code = main(["invite", "-", "--out", "-"], stdin=io.StringIO(CONTACTS))
    out, err = capsys.readouterr()
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["external_id"] for r in rows] == ["T-100", "T-101", "T-102", "T-103"]
    summary = json.loads(err.splitlines()[-1])
    assert summary["invited"] == 4 and summary["links_file"] == "standard output"


def test_invite_needs_the_signing_key(db, job_env, capsys, tmp_path):
    job_env.delenv("SURVEY_SIGNING_KEY")
    source = tmp_path / "contacts.csv"
    source.write_text(CONTACTS)
    code, lines = run_invite(capsys, str(source))
    assert code == 2 and "SURVEY_SIGNING_KEY is not set" in lines[-1]["error"]


def test_the_demo_creates_a_few_invitations_and_logs_one_link(db, job_env, capsys):
    code, lines = run_invite(capsys, "--demo")
    assert code == 0
    (demo,) = [line for line in lines if line["event"] == "survey_demo_link"]
    assert re.match(r"^http://testserver/s/[\w.-]+\?score=9$", demo["link"])
    assert len(invitations(db)) == 5
    code, lines = run_invite(capsys, "--demo")
    assert code == 0 and lines[-1]["invited"] == 0 and len(invitations(db)) == 5


# --- with a real SMTP server ------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Inbox:
    """aiosmtpd handler: keeps every message it accepts; refuses one recipient on purpose."""

    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        assert session.ssl is not None, "a message arrived without TLS"
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def smtp_server(tmp_path, job_env):
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox(refuse="carla@example.net")
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    # The job checks the server's certificate against the trust store: ours, for this test.
    job_env.setenv("SSL_CERT_FILE", str(cert))
    job_env.setenv("SMTP_HOST", "localhost")
    job_env.setenv("SMTP_PORT", str(port))
    job_env.setenv("SMTP_USER", SMTP_USER)
    job_env.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    job_env.setenv("SMTP_FROM", "Support <support@example.com>")
    try:
        yield inbox
    finally:
        controller.stop()


def score_links(message) -> list[str]:
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.findall(r"http://testserver/s/\S+", body)


def test_invite_with_smtp_sends_eleven_working_score_links_and_stores_no_address(
    db, job_env, capsys, tmp_path, smtp_server
):
    source = tmp_path / "contacts.csv"
    source.write_text(CONTACTS)
    code, lines = run_invite(capsys, str(source), "--out", str(tmp_path / "links.csv"))
    assert code == 0, lines
    summary = lines[-1]
    assert (summary["emailed"], summary["email_failed"]) == (2, 1)  # carla's server said 550
    assert summary["email_failed_lines"] == [5]
    assert {m["To"] for m in smtp_server.messages} == {"ana@example.com", "bob@example.org"}
    by_recipient = {m["To"]: m for m in smtp_server.messages}
    portuguese = by_recipient["ana@example.com"]
    assert "Como foi o nosso atendimento" in portuguese["Subject"]
    links = score_links(portuguese)
    assert [link.rsplit("?score=", 1)[1] for link in links] == [str(s) for s in range(11)]
    html = portuguese.get_body(preferencelist=("html",)).get_content()
    assert all(link.replace("&", "&amp;") in html for link in links)

    settings = survey_settings(db)
    with TestClient(create_app(settings, db.survey_engine)) as client:
        for score, link in enumerate(links):
            page = client.get(link.removeprefix("http://testserver"))
            assert page.status_code == 200
            assert f'value="{score}"\n                 checked' in page.text
    assert answers(db.engine) == []  # following the links recorded nothing
    assert [i[4] for i in invitations(db)] == [True, True, False, False]

    # A second run sends nothing twice; the address that failed is tried again.
    smtp_server.refuse = None
    code, lines = run_invite(capsys, str(source), "--out", str(tmp_path / "links.csv"))
    assert code == 0
    assert (lines[-1]["emailed"], lines[-1]["already_emailed"]) == (1, 2)
    assert len(smtp_server.messages) == 3
    no_address_is_stored(db)
    logged = json.dumps(lines)
    assert not any(a in logged for a in ADDRESSES) and SMTP_PASSWORD not in logged


def test_a_wrong_smtp_password_or_no_server_is_named(db, job_env, capsys, tmp_path, smtp_server):
    source = tmp_path / "contacts.csv"
    source.write_text(CONTACTS)
    job_env.setenv("SMTP_PASSWORD", "a-wrong-password-12345")
    code, lines = run_invite(capsys, str(source))
    assert code == 1 and "refused the login of SMTP_USER" in lines[-1]["error"]
    job_env.setenv("SMTP_PORT", str(free_port()))
    code, lines = run_invite(capsys, str(source))
    assert code == 1 and "cannot connect to SMTP_HOST localhost" in lines[-1]["error"]
    assert smtp_server.messages == []


def test_a_development_run_makes_the_demo_invitations_and_logs_a_link(db, job_env, capsys):
    """What `docker compose up` does with SURVEY_DEMO_INVITATIONS=true (compose.override.yaml):
    the job's run step, before waiting for the model."""
    import uuid as uuid_module

    from jobs import steps
    from jobs.config import JobSettings
    from npscsat.config import load_settings
    from npscsat.logs import configure_logging

    configure_logging("INFO", "json")
    job_env.setenv("SURVEY_DEMO_INVITATIONS", "true")
    ctx = steps.JobContext(load_settings(JobSettings), uuid_module.uuid4())
    try:
        steps.invite_demo(ctx)
        steps.invite_demo(ctx)  # a second `up`: nothing new, a fresh link
    finally:
        ctx.close()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    links = [line["link"] for line in lines if line["event"] == "survey_demo_link"]
    assert len(links) == 2 and len(invitations(db)) == 5
    settings = survey_settings(db)
    with TestClient(create_app(settings, db.survey_engine)) as client:
        assert client.get(links[0].removeprefix("http://testserver")).status_code == 200


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"SURVEY_DEMO_INVITATIONS": "true", "SURVEY_SIGNING_KEY": None},
            "needs SURVEY_SIGNING_KEY",
        ),
        ({"SMTP_HOST": "smtp.example.org"}, "SMTP_FROM is not set"),
        ({"SMTP_HOST": "smtp.example.org", "SMTP_FROM": "a@b.c", "SMTP_USER": "u"}, "go together"),
        (
            {"APP_ENV": "prod", "SMTP_HOST": "smtp.example.org", "SMTP_FROM": "a@b.c",
             "SMTP_STARTTLS": "false"},
            "SMTP_STARTTLS=false sends the links in clear text",
        ),
        ({"SMTP_FROM": "not an address"}, "SMTP_FROM: 'not an address' is not an e-mail"),
        ({"SURVEY_SIGNING_KEY": "short"}, "SURVEY_SIGNING_KEY must be at least 32 bytes"),
        ({"SURVEY_PUBLIC_URL": "survey.example.org"}, "is not an http:// or https:// URL"),
        ({"SURVEY_LINK_DAYS": "0"}, "SURVEY_LINK_DAYS"),
    ],
)  # fmt: skip
def test_bad_survey_and_smtp_settings_are_named(db, job_env, capsys, env, problem):
    for name, value in env.items():
        if value is None:
            job_env.delenv(name, raising=False)
        else:
            job_env.setenv(name, value)
    if env.get("APP_ENV") == "prod":  # the rest of the environment must pass prod's rules
        job_env.setenv(
            "DATABASE_URL", db.url.set(password="a-real-password-1").render_as_string(False)
        )
    code, lines = run_invite(capsys, "--demo")
    assert code == 2 and problem in lines[-1]["error"], lines[-1]
