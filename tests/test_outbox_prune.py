"""``manage.py mail prune``: the mails sent long ago deleted, never one still waiting."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from support.smtp import Mailbox, mailbox_on_a_free_port

from api.database import db
from api.models import AuditEvent, OutboxMail
from api.services import mail_delivery, outbox

DAY = 24 * 3600


def _write(app, recipient: str) -> None:
    """Write one mail to the outbox, committed; nothing sends it until ``_deliver``."""
    with app.app_context():
        outbox.add_mail(recipient, "test", "Hello", "a body")
        db.session.commit()


def _deliver(app, mailbox: Mailbox) -> mail_delivery.DeliveryReport:
    """Deliver what is due through ``mailbox``'s server, as the app's sender does."""
    app.config["MAIL_URL"] = mailbox.url
    try:
        with app.app_context():
            return mail_delivery.deliver()
    finally:
        app.config["MAIL_URL"] = None


def _left(app) -> list[tuple[str, datetime | None]]:
    """The outbox's rows, oldest first: each one's recipient and sent time."""
    with app.app_context():
        query = sa.select(OutboxMail.recipient, OutboxMail.sent_at).order_by(OutboxMail.id)
        return [tuple(row) for row in db.session.execute(query)]


def _prune_events(app) -> list[dict]:
    with app.app_context():
        query = sa.select(AuditEvent).where(AuditEvent.event == "mail_pruned")
        return [
            {"fields": event.fields, "client": event.client}
            for event in db.session.scalars(query.order_by(AuditEvent.id))
        ]


@pytest.fixture
def config(config):
    return {**config, "MAIL_URL": None}


def test_mail_prune_deletes_the_mails_sent_before_the_retention_period(clock, app, cli, mailbox):
    _write(app, "old@example.test")
    assert _deliver(app, mailbox).sent == 1
    clock.shift(60 * DAY)
    _write(app, "recent@example.test")
    assert _deliver(app, mailbox).sent == 1
    clock.shift(31 * DAY)
    result = cli("mail", "prune")
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 mail(s) deleted\n"
    assert [recipient for recipient, _ in _left(app)] == ["recent@example.test"]
    assert _prune_events(app) == [
        {"fields": {"mails_deleted": 1, "older_than_days": 90}, "client": "cli"}
    ]
    assert cli("mail", "prune").stdout == "0 mail(s) deleted\n"
    assert cli("mail", "prune", "--older-than", "32").stdout == "0 mail(s) deleted\n"
    assert cli("mail", "prune", "--older-than", "30").stdout == "1 mail(s) deleted\n"
    assert _left(app) == []


def test_mail_prune_keeps_a_mail_waiting_however_old(clock, app, cli):
    down = mailbox_on_a_free_port()
    _write(app, "patient@example.test")
    assert _deliver(app, down).failed == 1
    clock.shift(400 * DAY)
    assert _deliver(app, down).failed == 1
    assert cli("mail", "prune").stdout == "0 mail(s) deleted\n"
    assert cli("mail", "prune", "--older-than", "1").stdout == "0 mail(s) deleted\n"
    assert _left(app) == [("patient@example.test", None)]


def test_mail_prune_counts_from_the_sending_not_the_writing(clock, app, cli):
    late = mailbox_on_a_free_port()
    _write(app, "late@example.test")
    clock.shift(200 * DAY)
    late.start()
    try:
        assert _deliver(app, late).sent == 1
    finally:
        late.stop()
    clock.shift(2 * DAY)
    assert cli("mail", "prune").stdout == "0 mail(s) deleted\n"
    assert cli("mail", "prune", "--older-than", "3").stdout == "0 mail(s) deleted\n"
    assert cli("mail", "prune", "--older-than", "1").stdout == "1 mail(s) deleted\n"
    assert _left(app) == []


def test_mail_prune_deletes_the_decoys_of_requests_that_mailed_no_one(clock, app, cli):
    with app.app_context():
        outbox.add_decoy("a body for no one")
        db.session.commit()
    clock.shift(89 * DAY)
    assert cli("mail", "prune").stdout == "0 mail(s) deleted\n"
    clock.shift(2 * DAY)
    assert cli("mail", "prune").stdout == "1 mail(s) deleted\n"
    assert _left(app) == []


def test_mail_prune_default_follows_the_configuration(clock, app, cli, mailbox):
    app.config["AUDIT_RETENTION_DAYS"] = 7
    for number in range(3):
        _write(app, f"u{number}@example.test")
    assert _deliver(app, mailbox).sent == 3
    clock.shift(6 * DAY)
    assert cli("mail", "prune").stdout == "0 mail(s) deleted\n"
    clock.shift(2 * DAY)
    assert cli("mail", "prune").stdout == "3 mail(s) deleted\n"
    assert _prune_events(app)[-1]["fields"] == {"mails_deleted": 3, "older_than_days": 7}


def test_mail_prune_deletes_in_one_statement(clock, app, cli, mailbox, queries):
    for number in range(5):
        _write(app, f"u{number}@example.test")
    assert _deliver(app, mailbox).sent == 5
    clock.shift(91 * DAY)
    queries.clear()
    assert cli("mail", "prune").stdout == "5 mail(s) deleted\n"
    deletes = [q for q in queries if q.lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 1 and "outbox_mails" in deletes[0]


def test_mail_prune_with_a_cutoff_before_the_year_one_deletes_nothing(clock, app, cli, mailbox):
    _write(app, "old@example.test")
    assert _deliver(app, mailbox).sent == 1
    clock.shift(91 * DAY)
    result = cli("mail", "prune", "--older-than", "99999999")
    assert result.exit_code == 0, result.output
    assert result.stdout == "0 mail(s) deleted\n"
    assert len(_left(app)) == 1


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("abc", "--older-than must be a whole number of days"),
        ("-3", "--older-than must be a whole number of days"),
        ("1.5", "--older-than must be a whole number of days"),
        ("", "--older-than must be a whole number of days"),
        ("0", "mails can be pruned only when at least one day old"),
    ],
)
def test_mail_prune_refuses_bad_input_in_one_line(clock, app, cli, mailbox, days, message):
    _write(app, "old@example.test")
    assert _deliver(app, mailbox).sent == 1
    clock.shift(400 * DAY)
    result = cli("mail", "prune", "--older-than", days)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: {message}"
    assert len(_left(app)) == 1
    assert _prune_events(app) == []
