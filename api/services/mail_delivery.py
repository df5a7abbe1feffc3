"""Delivering the outbox: after the commit, never inside a request's wait.

A commit that added a mail wakes the app's ``Deliverer``: one thread per process, started
when first needed (under gunicorn's gevent worker, a greenlet), which claims due mails, sends
each with no transaction open, records the outcome, and sleeps until the next retry is due;
with nothing left waiting it ends, and the next mail starts it again. The request that wrote
the mail has already answered: a slow or dead mail server delays the mail, never the answer.
``manage.py mail send`` and ``mail worker`` deliver through the same ``deliver``, and the
claims (``outbox``) keep any number of senders from sending one mail twice.

Unset ``MAIL_URL``: no thread starts, and mails wait until it is set.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context, has_request_context
from sqlalchemy.orm import Session, SessionTransaction

from api.database import db
from api.models import utcnow
from api.origin import CLI, Origin
from api.services import mail_transport, outbox

log = logging.getLogger("tessera.mail")
EXTENSION = "tessera.mail_delivery"
# The server sending its outbox: no client, no user.
SENDER = Origin(address="outbox", user_agent=None)
BATCH = 20
# The longest the thread sleeps between looks at the outbox while mails wait.
LONGEST_SLEEP = 60.0


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int


def deliver(due_only: bool = True, *, origin: Origin = SENDER) -> DeliveryReport:
    """Send the waiting mails (those due, or all) through ``MAIL_URL``; report the outcome.

    Unset ``MAIL_URL`` sends nothing. Each mail is claimed and committed first, then sent
    with no transaction open, then its outcome committed.
    """
    mail_url = current_app.config["MAIL_URL"]
    sent = failed = 0
    if not mail_url:
        return DeliveryReport(0, 0)
    sender = current_app.config["MAIL_FROM"]
    while claimed := outbox.claim_mails(BATCH, due_only=due_only):
        for mail in claimed:
            envelope = mail_transport.Envelope(sender, mail.recipient, mail.subject, mail.text)
            try:
                mail_transport.send(mail_url, envelope)
            except mail_transport.DeliveryFailed as error:
                outbox.record_failure(mail, str(error), origin=origin)
                failed += 1
                continue
            outbox.record_sent(mail, origin=origin)
            sent += 1
        if failed:
            break  # the server refuses now: the rest waits for its own retry
    return DeliveryReport(sent, failed)


class Deliverer:
    """One app's background sender: a thread that runs while mails wait."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # A command made mail: it delivers it itself before it ends (``deliver_owed``).
        self.owed_by_command = False

    def wake(self) -> None:
        """Have the thread look at the outbox now, starting it if it is not running.

        Only for a commit made while serving a request: a command (which may exit at once,
        killing a thread mid-conversation) delivers what it made itself, with ``deliver``.
        """
        if not self.app.config["MAIL_URL"]:
            return
        if not has_request_context():
            self.owed_by_command = True
            return
        with self._lock:
            self._wanted.set()
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="tessera-mail", daemon=True)
                self._thread.start()
                atexit.register(self.stop)

    @property
    def running(self) -> bool:
        """Tell whether the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread once its mail in hand is sent, and start no other: an app going
        away (at exit, or a test's app) leaves no sender retrying a server gone with it.
        Mails not sent stay in the outbox for the next sender."""
        with self._lock:
            self._stopping.set()
            self._wanted.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        with self.app.app_context():
            while not self._ends(done=False):
                self._wanted.clear()
                wait = self._deliver_once()
                if self._ends(done=wait is None):
                    break
                if wait is not None:
                    # At least a second: a due mail another sender holds is not ours to spin on.
                    self._wanted.wait(timeout=min(max(wait, 1.0), LONGEST_SLEEP))
        atexit.unregister(self.stop)

    def _ends(self, done: bool) -> bool:
        """Tell whether the thread ends now (stopped, or ``done`` and not woken meanwhile); if
        so it is forgotten at once, under the lock, so the next wake starts another."""
        with self._lock:
            if self._stopping.is_set() or (done and not self._wanted.is_set()):
                self._thread = None
                return True
            return False

    def _deliver_once(self) -> float | None:
        """Deliver what is due; return the seconds until the next retry, None if none waits."""
        try:
            deliver()
            return outbox.next_attempt_in(utcnow())
        except Exception:  # a database that went away: try again later, never die silently
            log.exception("the outbox could not be delivered; trying again in a minute")
            return LONGEST_SLEEP
        finally:
            db.session.remove()


def _wake_after_commit(session: Session) -> None:
    if session.info.pop(outbox.MAIL_ADDED, False) and has_app_context():
        deliverer = current_app.extensions.get(EXTENSION)
        if deliverer is not None:
            deliverer.wake()


def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(outbox.MAIL_ADDED, None)


# On the session factory every app shares through ``db``; each app has its own deliverer.
sa.event.listen(db.session, "after_commit", _wake_after_commit)
sa.event.listen(db.session, "after_transaction_end", _forget_uncommitted)


def init_app(app: Flask) -> None:
    """Give the app its background sender (idle until a commit adds a mail)."""
    app.extensions[EXTENSION] = Deliverer(app)


def deliver_owed(app: Flask) -> DeliveryReport | None:
    """Deliver the mail that commands of ``app`` made since the last call, if any; a command
    delivers its own (a thread of its process could die with it mid-conversation)."""
    deliverer = app.extensions.get(EXTENSION)
    if deliverer is None or not deliverer.owed_by_command:
        return None
    deliverer.owed_by_command = False
    return deliver(origin=CLI)


def stop(app: Flask) -> None:
    """Stop ``app``'s background sender, if it runs (``Deliverer.stop``)."""
    deliverer = app.extensions.get(EXTENSION)
    if deliverer is not None:
        deliverer.stop()
