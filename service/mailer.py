"""Sending one composed email: over SMTP (``MAIL_URL``), or into the development mailbox.

The standard library's ``smtplib`` speaks the protocol. Each send opens its own connection (a
donation platform sends a few messages a minute, not thousands a second) with a timeout, so a
hung server costs one attempt, never a stuck worker. What an SMTP failure means for the message
is decided here: a 5xx answer to the sender or recipient is permanent (the address is wrong,
retrying cannot help), anything else (connection refused, timeout, 4xx) is temporary and the
outbox retries it with back-off. The password and the recipient are never logged.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

SMTP_TIMEOUT_SECONDS = 20


class SendFailed(Exception):
    """The message was not accepted; ``permanent`` says whether retrying could help."""

    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    tls: bool = False  # smtps:// (implicit TLS, port 465)

    def __repr__(self) -> str:  # never the password, wherever a server ends up printed
        return f"SmtpServer({self.host}:{self.port}, starttls={self.starttls}, tls={self.tls})"


def parse_mail_url(url: str) -> SmtpServer:
    """``smtp://user:password@host:587?starttls=true`` or ``smtps://host:465``; ValueError if not."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("MAIL_URL must look like smtp://user:password@host:587?starttls=true")
    query = parse_qs(parts.query)
    starttls = (query.get("starttls") or ["false"])[0].lower() in ("1", "true", "yes")
    tls = parts.scheme == "smtps"
    port = parts.port or (465 if tls else 587 if starttls else 25)
    return SmtpServer(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        starttls=starttls,
        tls=tls,
    )


def send_smtp(server: SmtpServer, message: EmailMessage) -> None:
    """Hand ``message`` to the server; SendFailed says whether to retry."""
    try:
        if server.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if server.starttls:
                client.starttls(context=ssl.create_default_context())
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise SendFailed(f"recipient refused ({codes})", permanent=all(c >= 500 for c in codes)) from None
    except smtplib.SMTPSenderRefused as exc:
        raise SendFailed(f"sender refused ({exc.smtp_code})", permanent=exc.smtp_code >= 500) from None
    except smtplib.SMTPAuthenticationError as exc:
        # Wrong credentials are the operator's to fix; the message waits for them, retried.
        raise SendFailed(f"authentication failed ({exc.smtp_code})", permanent=False) from None
    except smtplib.SMTPResponseException as exc:
        # 5xx to the message itself (content refused) will be refused again; 4xx is "try later".
        raise SendFailed(f"server answered {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendFailed(f"{type(exc).__name__}", permanent=False) from None
