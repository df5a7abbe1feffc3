"""How a mail leaves: SMTP through the standard library, or the console for development.

``MAIL_URL`` names the way: ``smtp://[user:password@]host[:port]`` (plain, port 25),
``smtp+starttls://...`` (port 587, upgraded with STARTTLS), ``smtps://...`` (TLS from the
first byte, port 465), or ``console:`` (each mail printed on standard error). Recipients are
given to the server apart from the headers (``to_addrs``), so nothing in a header can add one;
and every header is written by ``email.message`` with the SMTP policy, which refuses CR or LF
in a value.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

# An SMTP server that does not answer within this many seconds has failed this try.
SMTP_TIMEOUT = 10
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
CONSOLE = "console:"


class DeliveryFailed(Exception):
    """The mail server did not take a mail; the message says why, with no secret in it."""


@dataclass(frozen=True)
class Envelope:
    sender: str  # MAIL_FROM as written: an address, or Name <address>
    recipient: str
    subject: str
    text: str


def message(envelope: Envelope) -> EmailMessage:
    """Return the mail as the server receives it."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = envelope.sender
    mail["To"] = envelope.recipient
    mail["Subject"] = envelope.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=parseaddr(envelope.sender)[1].rpartition("@")[2])
    mail.set_content(envelope.text)
    return mail


def readable(envelope: Envelope) -> str:
    """The mail as a person reads it: its headers, then its text as written, not encoded for
    the wire (quoted-printable would cut a long token over two lines)."""
    headers = "".join(f"{name}: {value}\n" for name, value in message(envelope).items())
    return f"{headers}\n{envelope.text.rstrip()}\n\n"


def send(mail_url: str, envelope: Envelope) -> None:
    """Hand one mail to ``mail_url``; raise DeliveryFailed if it was not taken."""
    if mail_url == CONSOLE:
        sys.stderr.write(readable(envelope))
        sys.stderr.flush()
        return
    try:
        _send_smtp(mail_url, envelope)
    except (smtplib.SMTPException, OSError, ValueError) as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}"[:200]) from None


def _send_smtp(mail_url: str, envelope: Envelope) -> None:
    parts = urlsplit(mail_url)
    host, port = parts.hostname or "", parts.port or DEFAULT_PORTS[parts.scheme]
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
    else:
        server = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
    with server:
        if parts.scheme == "smtp+starttls":
            server.starttls(context=context)
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(
            message(envelope),
            from_addr=parseaddr(envelope.sender)[1],
            to_addrs=[envelope.recipient],
        )
