"""`python -m jobs invite PATH.csv --out LINKS.csv`: one survey invitation per support contact.

Reads a CSV file (a header row; columns external_id, channel, customer_type, and optionally
email and locale), checks every row before anything is written (line, column and value in each
problem), stores one invitation per external_id (a file invited again adds nothing), and writes
`external_id,link` for every row: SURVEY_PUBLIC_URL/s/<token>, the token signed with
SURVEY_SIGNING_KEY (npscsat.survey_links). With SMTP_HOST set it also e-mails each person that
has an address and was not e-mailed before (jobs/mail.py). Addresses are used to send and never
stored: not in the database, not in the links file, not in the log.

`--demo` creates a handful of invitations for the demo instead of reading a file, and logs one
link (what `docker compose up` runs).
"""

from __future__ import annotations

import csv
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import structlog
from sqlalchemy import Engine, text

from jobs.importing.reader import ImportRefused, InputFile, records
from jobs.mail import Mailer, invitation_message
from jobs.store import load_vocabulary
from npscsat.survey_links import SurveyLinks

log = structlog.get_logger("jobs.invite")

REQUIRED = ("external_id", "channel", "customer_type")
OPTIONAL = ("email", "locale")
EXTERNAL_ID_MAX = 200
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
SHOWN_PROBLEMS = 20
CHUNK = 5000
DEMO_ROWS = (
    ("demo-0001", "chat", "individual", "en"),
    ("demo-0002", "email", "small_business", "pt-BR"),
    ("demo-0003", "phone", "enterprise", "en"),
    ("demo-0004", "whatsapp", "individual", "pt-BR"),
    ("demo-0005", "self_service", "small_business", None),
)


@dataclass(frozen=True)
class Contact:
    line: int
    external_id: str
    channel: str
    customer_type: str
    email: str | None
    locale: str | None


@dataclass
class InviteReport:
    rows: int = 0
    invited: int = 0  # new invitations
    already_invited: int = 0
    emailed: int = 0
    already_emailed: int = 0
    email_failed: int = 0
    links_file: str | None = None
    failed_lines: list[int] = field(default_factory=list)


def normalise_locale(raw: str) -> str | None:
    """'pt-BR', 'pt_br', 'pt' -> 'pt-BR'; 'en', 'en-GB' -> 'en'; '' -> None; else ValueError."""
    value = raw.strip().replace("_", "-").lower()
    if not value:
        return None
    if value == "pt" or value.startswith("pt-"):
        return "pt-BR"
    if value == "en" or value.startswith("en-"):
        return "en"
    raise ValueError(value)


def _lookup(codes: dict[str, str]) -> dict[str, str]:
    found = {label.strip().lower(): code for code, label in codes.items()}
    found.update({code.lower(): code for code in codes})
    return found


def read_contacts(
    source: InputFile, channels: dict[str, str], customer_types: dict[str, str]
) -> list[Contact]:
    """Every row of the file, checked; ImportRefused listing the problems (line, column and
    value) when any row is wrong. Nothing is written before this returns."""
    rows = records(source)
    try:
        header_record = next(rows)
    except StopIteration:
        raise ImportRefused(
            f"{source.name} is empty: expected a header row such as "
            "external_id,channel,customer_type,email,locale"
        ) from None
    header = [name.strip().lower() for name in header_record.fields]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if unknown:
        raise ImportRefused(
            f'line 1: unknown column "{unknown[0]}"; the columns of an invitation file are '
            f"{', '.join(REQUIRED + OPTIONAL)} (the last two optional)"
        )
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportRefused(f'line 1: missing column "{missing[0]}" ({missing[0]} is required)')
    position = {name: header.index(name) for name in header}
    known_channels, known_types = _lookup(channels), _lookup(customer_types)
    contacts, problems, seen = [], [], {}

    def problem(line: int, column: str, value: str, why: str) -> None:
        shown = value if len(value) <= 60 else f"{value[:40]}… ({len(value):,} characters)"
        problems.append(f'line {line}, {column}: "{shown}" {why}')

    for record in rows:
        if len(record.fields) != len(header):
            problems.append(
                f"line {record.line}: {len(record.fields)} fields where the header has "
                f"{len(header)} (a comma in an unquoted value?)"
            )
            continue
        value = {name: record.fields[index].strip() for name, index in position.items()}
        external_id = value["external_id"]
        if not 1 <= len(external_id) <= EXTERNAL_ID_MAX:
            problem(record.line, "external_id", external_id, "must be 1 to 200 characters")
        elif external_id in seen:
            problem(
                record.line,
                "external_id",
                external_id,
                f"is also on line {seen[external_id]}; an external_id must be unique",
            )
        else:
            seen[external_id] = record.line
        channel = known_channels.get(value["channel"].lower())
        if channel is None:
            problem(
                record.line,
                "channel",
                value["channel"],
                f"is not a known channel; known codes: {', '.join(channels)}",
            )
        customer_type = known_types.get(value["customer_type"].lower())
        if customer_type is None:
            problem(
                record.line,
                "customer_type",
                value["customer_type"],
                f"is not a known customer type; known codes: {', '.join(customer_types)}",
            )
        email = value.get("email") or None
        if email is not None and (len(email) > 254 or not EMAIL.match(email)):
            problem(record.line, "email", email, "is not an e-mail address")
        try:
            locale = normalise_locale(value.get("locale", ""))
        except ValueError:
            locale = None
            problem(record.line, "locale", value["locale"], "is not en or pt-BR")
        contacts.append(
            Contact(record.line, external_id, channel or "", customer_type or "", email, locale)
        )
    if problems:
        for message in problems[:SHOWN_PROBLEMS]:
            log.error("row_invalid", problem=message)
        more = len(problems) - SHOWN_PROBLEMS
        raise ImportRefused(
            f"refused: {len(problems):,} problems in {source.name} (the first "
            f"{min(len(problems), SHOWN_PROBLEMS)} are listed above as row_invalid"
            + (f", {more:,} more" if more > 0 else "")
            + "); nothing was written. Fix the file and run invite again."
        )
    return contacts


@dataclass(frozen=True)
class Invitation:
    id: uuid.UUID
    external_id: str
    new: bool
    emailed: bool


def store_invitations(
    engine: Engine, contacts: Sequence[Contact], link_days: int
) -> dict[str, Invitation]:
    """One invitation per external_id: new ones are inserted, known ones left as they are
    (their link still expires SURVEY_LINK_DAYS after the first invitation)."""
    found: dict[str, Invitation] = {}
    expires_at = datetime.now(UTC) + timedelta(days=link_days)
    with engine.begin() as conn:
        for start in range(0, len(contacts), CHUNK):
            chunk = contacts[start : start + CHUNK]
            inserted = conn.execute(
                text(
                    "INSERT INTO app.survey_invitation "
                    "(external_id, channel, customer_type, locale, expires_at) "
                    "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:channels AS text[]), "
                    "CAST(:types AS text[]), CAST(:locales AS text[])) "
                    "CROSS JOIN (SELECT CAST(:expires AS timestamptz)) AS e "
                    "ON CONFLICT ON CONSTRAINT survey_invitation_external_id_key DO NOTHING "
                    "RETURNING external_id"
                ),
                {
                    "ids": [c.external_id for c in chunk],
                    "channels": [c.channel for c in chunk],
                    "types": [c.customer_type for c in chunk],
                    "locales": [c.locale for c in chunk],
                    "expires": expires_at,
                },
            )
            new = set(inserted.scalars())
            rows = conn.execute(
                text(
                    "SELECT id, external_id, emailed_at IS NOT NULL AS emailed "
                    "FROM app.survey_invitation WHERE external_id = ANY(CAST(:ids AS text[]))"
                ),
                {"ids": [c.external_id for c in chunk]},
            )
            for row in rows:
                found[row.external_id] = Invitation(
                    row.id, row.external_id, row.external_id in new, row.emailed
                )
    return found


def mark_emailed(engine: Engine, ids: Sequence[uuid.UUID]) -> None:
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE app.survey_invitation SET emailed_at = now() "
                "WHERE id = ANY(CAST(:ids AS uuid[])) AND emailed_at IS NULL"
            ),
            {"ids": [str(i) for i in ids]},
        )


def write_links(path: Path, links: SurveyLinks, invitations: Sequence[Invitation]) -> None:
    """`external_id,link`, one row per invitation of the file, in the file's order. Written to
    a temporary name and renamed, so a half-written file never replaces a good one; "-" is
    standard output."""

    def write(out) -> None:
        writer = csv.writer(out)
        writer.writerow(["external_id", "link"])
        for invitation in invitations:
            writer.writerow([invitation.external_id, links.link(invitation.id)])

    if str(path) == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as out:
            write(out)
        partial.replace(path)
    except OSError as exc:
        raise ImportRefused(f"cannot write the links to {path}: {exc.strerror}") from None


def default_links_path(path: str) -> Path:
    source = Path(path)
    stem = source.name.removesuffix(".gz").removesuffix(".csv")
    return source.with_name(f"{stem}.links.csv")


def run_invite(
    engine: Engine,
    links: SurveyLinks,
    *,
    path: str | None,
    out: str | None,
    mailer: Mailer | None,
    stdin: BinaryIO | None = None,
    demo: bool = False,
) -> InviteReport:
    vocabulary = load_vocabulary(engine)
    if demo:
        contacts = [
            Contact(line, external_id, channel, customer_type, None, locale)
            for line, (external_id, channel, customer_type, locale) in enumerate(DEMO_ROWS, 2)
            if channel in vocabulary.channels and customer_type in vocabulary.customer_types
        ]
    else:
        if path is None:
            raise ImportRefused("name the file of support contacts (PATH.csv), or use --demo")
        if out is None and path == "-":
            raise ImportRefused("--out is required when the contacts come from standard input")
        source = InputFile(path, stdin)
        try:
            contacts = read_contacts(source, vocabulary.channels, vocabulary.customer_types)
        finally:
            source.close()

    stored = store_invitations(engine, contacts, links.link_days)
    ordered = [stored[c.external_id] for c in contacts]
    report = InviteReport(rows=len(contacts))
    report.invited = sum(1 for i in ordered if i.new)
    report.already_invited = len(ordered) - report.invited
    target = Path(out) if out else (None if demo else default_links_path(path))
    if target is not None:
        write_links(target, links, ordered)
        report.links_file = "standard output" if out == "-" else str(target)
    if demo and ordered:
        log.info(
            "survey_demo_link",
            link=links.link(ordered[0].id, score=9),
            detail="open it to answer the demo survey; the answer shows on the dashboard "
            "under Survey answers within a minute",
        )
    if mailer is not None:
        _send(engine, links, mailer, contacts, stored, report)
    return report


def _send(engine, links, mailer, contacts, stored, report: InviteReport) -> None:
    sent: list[uuid.UUID] = []
    with mailer.session() as session:
        for contact in contacts:
            if contact.email is None:
                continue
            invitation = stored[contact.external_id]
            if invitation.emailed:
                report.already_emailed += 1
                continue
            message = invitation_message(
                sender=mailer.sender,
                recipient=contact.email,
                locale=contact.locale,
                score_links=links.score_links(invitation.id),
            )
            problem = session.send(message)
            if problem is None:
                sent.append(invitation.id)
                report.emailed += 1
            else:
                report.email_failed += 1
                report.failed_lines.append(contact.line)
                # The line, never the address: the log must not hold personal data.
                log.warning("email_not_sent", line=contact.line, reason=problem)
            if len(sent) >= 100:
                mark_emailed(engine, sent)
                sent = []
    mark_emailed(engine, sent)


def summary_fields(report: InviteReport) -> dict:
    fields = {
        "rows": report.rows,
        "invited": report.invited,
        "already_invited": report.already_invited,
        "links_file": report.links_file,
    }
    if report.emailed or report.email_failed or report.already_emailed:
        fields.update(
            emailed=report.emailed,
            already_emailed=report.already_emailed,
            email_failed=report.email_failed,
        )
    if report.failed_lines:
        fields["email_failed_lines"] = report.failed_lines[:SHOWN_PROBLEMS]
    return fields
