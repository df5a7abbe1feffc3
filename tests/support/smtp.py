"""A real SMTP server on loopback for the tests: aiosmtpd, started and stopped by a fixture.

Every mail it receives lands in its ``Mailbox`` with the envelope's recipients (what the
server was told to deliver to, whatever the headers say). ``wait_for`` blocks on a queue
until the next mail arrives (never a sleep), so a mail sent by the server's background
thread is awaited as surely as one sent in the test's own thread.
"""

from __future__ import annotations

import email
import queue
import re
from dataclasses import dataclass, field
from email.message import Message

from aiosmtpd.controller import Controller

from support.loopback import closed_loopback_port

TOKEN_LINE = re.compile(r"^Or use this token:\n(\S+)$", re.MULTILINE)


@dataclass
class Received:
    """One mail as the server received it."""

    sender: str
    recipients: list[str]
    message: Message

    @property
    def text(self) -> str:
        return self.message.get_payload(decode=True).decode().replace("\r\n", "\n")

    @property
    def token(self) -> str:
        """The token the mail's text shows on its own line."""
        match = TOKEN_LINE.search(self.text)
        assert match, self.text
        return match.group(1)


@dataclass
class Mailbox:
    """What a server received, and a queue to wait on for what it receives next."""

    port: int
    received: list[Received] = field(default_factory=list)
    arrivals: queue.Queue = field(default_factory=queue.Queue)
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        mail = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            email.message_from_bytes(envelope.original_content),
        )
        self.received.append(mail)
        self.arrivals.put(mail)
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, timeout: float = 10) -> Received:
        """Return the next mail received, waiting for it up to ``timeout`` seconds."""
        return self.arrivals.get(timeout=timeout)

    def to(self, address: str) -> list[Received]:
        """Return the mails delivered to ``address``."""
        return [mail for mail in self.received if address in mail.recipients]


def mailbox_on_a_free_port() -> Mailbox:
    """Return a mailbox for a loopback port nothing listens on yet (``start`` it later)."""
    return Mailbox(closed_loopback_port())
