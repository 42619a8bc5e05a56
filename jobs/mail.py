"""The invitation e-mail and sending it over SMTP with STARTTLS (Python's smtplib and email).

The body asks the NPS question and holds the eleven score links (`…/s/<token>?score=0` to
`?score=10`): a click opens the survey page with that score chosen; a mail scanner that
follows every link records nothing (the page records a score only once a person has seen it).
"""

from __future__ import annotations

import contextlib
import html
import smtplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from npscsat.errors import NpscsatError

SMTP_TIMEOUT_SECONDS = 30

TEXTS = {
    "en": {
        "subject": "How did we do? One question about your support contact",
        "question": "How likely are you to recommend us to a friend or colleague?",
        "how": "Click a score from 0 (not at all likely) to 10 (extremely likely). On the "
        "page that opens you can add how satisfied you were and a comment.",
        "low": "Not at all likely",
        "high": "Extremely likely",
        "footer": "This link is personal to your support contact and works for a limited "
        "time. Your answer is linked to the contact, not to your e-mail address.",
    },
    "pt-BR": {
        "subject": "Como foi o nosso atendimento? Uma pergunta sobre o seu contato",
        "question": "Qual a probabilidade de você nos recomendar a um amigo ou colega?",
        "how": "Clique em uma nota de 0 (nada provável) a 10 (extremamente provável). Na "
        "página que abrir, você pode dizer o quanto ficou satisfeito e deixar um comentário.",
        "low": "Nada provável",
        "high": "Extremamente provável",
        "footer": "Este link é pessoal do seu atendimento e vale por um tempo limitado. A sua "
        "resposta fica ligada ao atendimento, não ao seu endereço de e-mail.",
    },
}


class MailError(NpscsatError):
    """The SMTP server cannot be reached or refuses the connection or the login."""


def invitation_message(
    *, sender: str, recipient: str, locale: str | None, score_links: Sequence[str]
) -> EmailMessage:
    """A plain-text e-mail with an HTML alternative, both holding the eleven score links."""
    words = TEXTS.get(locale or "en", TEXTS["en"])
    message = EmailMessage()
    message["Subject"] = words["subject"]
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip("> "))
    lines = [words["question"], "", words["how"], ""]
    lines += [f"{score:>2}  {link}" for score, link in enumerate(score_links)]
    lines += ["", words["footer"]]
    message.set_content("\n".join(lines))
    buttons = "".join(
        f'<a href="{html.escape(link)}" style="display:inline-block;min-width:28px;'
        "padding:8px 4px;margin:2px;border:1px solid #0b57d0;border-radius:4px;"
        f'color:#0b57d0;text-align:center;text-decoration:none">{score}</a>'
        for score, link in enumerate(score_links)
    )
    message.add_alternative(
        f'<!doctype html><html lang="{html.escape(locale or "en")}"><body>'
        f"<p><strong>{html.escape(words['question'])}</strong></p>"
        f"<p>{html.escape(words['how'])}</p>"
        f"<p>{buttons}</p>"
        f"<p>0 = {html.escape(words['low'])} · 10 = {html.escape(words['high'])}</p>"
        f'<p style="color:#4a5360">{html.escape(words["footer"])}</p></body></html>',
        subtype="html",
    )
    return message


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    starttls: bool = True

    @contextlib.contextmanager
    def session(self) -> Iterator[MailSession]:
        """One connection for every message of a run; MailError naming the server when it
        cannot be reached, will not start TLS or refuses the login."""
        where = f"SMTP_HOST {self.host}:{self.port}"
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to {where}: {exc}") from None
        try:
            try:
                client.ehlo()
                if self.starttls:
                    # Certificates are checked against the system's trust store.
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.user and self.password is not None:
                    client.login(self.user, self.password)
            except smtplib.SMTPNotSupportedError:
                raise MailError(
                    f"{where} does not offer STARTTLS; the password and the links would travel "
                    "in clear text (SMTP_STARTTLS=false only for a relay on this machine)"
                ) from None
            except smtplib.SMTPAuthenticationError as exc:
                raise MailError(
                    f"{where} refused the login of SMTP_USER: {exc.smtp_code}"
                ) from None
            except (ssl.SSLError, ssl.CertificateError) as exc:
                raise MailError(f"TLS with {where} failed: {exc}") from None
            except (OSError, smtplib.SMTPException) as exc:
                raise MailError(f"{where} failed: {exc}") from None
            yield MailSession(client)
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException, socket.timeout):
                client.quit()


@dataclass
class MailSession:
    client: smtplib.SMTP

    def send(self, message: EmailMessage) -> str | None:
        """Sends one message; None when the server accepted it, else why not (the recipient
        refused, the message rejected). A lost connection ends the run (MailError)."""
        try:
            refused = self.client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, _ = next(iter(exc.recipients.values()))
            return f"the server refused the recipient ({code})"
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            return f"the server refused the message ({exc.smtp_code})"
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise MailError(f"the SMTP connection was lost: {exc}") from None
        if refused:
            return "the server refused the recipient"
        return None
