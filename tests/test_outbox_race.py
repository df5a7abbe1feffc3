"""Senders racing over one outbox never send a mail twice; a background sender stops with its
app. Real SMTP (``mailbox``) throughout; on both backends."""

from __future__ import annotations

import threading

import pytest
from support.smtp import mailbox_on_a_free_port

from api.database import db
from api.services import mail_delivery, outbox

MAILS = 30


@pytest.fixture
def config(config, mailbox):
    return {**config, "MAIL_URL": mailbox.url}


def _write_mails(app, count: int) -> None:
    with app.app_context():
        for number in range(count):
            outbox.add_mail(f"user{number}@example.test", "test", f"Mail {number}", "body")
        db.session.commit()


def test_two_senders_racing_send_every_mail_exactly_once(app, mailbox, monkeypatch):
    monkeypatch.setattr(mail_delivery, "BATCH", 3)  # many claims each, interleaved
    _write_mails(app, MAILS)
    start = threading.Barrier(2)
    reports: list[mail_delivery.DeliveryReport] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                reports.append(mail_delivery.deliver(due_only=False))
                db.session.remove()
        except BaseException as error:  # reported by the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(report.sent for report in reports) == MAILS
    assert sum(report.failed for report in reports) == 0
    recipients = sorted(mail.recipients[0] for mail in mailbox.received)
    assert recipients == sorted(f"user{number}@example.test" for number in range(MAILS))
    with app.app_context():
        assert outbox.waiting_count() == 0


def test_a_background_sender_stops_with_its_app(app):
    app.config["MAIL_URL"] = mailbox_on_a_free_port().url  # down: the sender keeps retrying
    deliverer = app.extensions[mail_delivery.EXTENSION]
    with app.test_request_context():
        outbox.add_mail("a@example.test", "test", "Hello", "body")
        db.session.commit()  # wakes the sender
    assert deliverer.running
    mail_delivery.stop(app)
    assert not deliverer.running
    with app.test_request_context():
        outbox.add_mail("b@example.test", "test", "Hello", "body")
        db.session.commit()  # a stopped app starts no sender again
        assert not deliverer.running
        assert outbox.waiting_count() == 2  # nothing lost: the next sender takes them
