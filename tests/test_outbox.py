"""The outbox: mails written with their change, delivered after the commit, exactly once."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from support.smtp import mailbox_on_a_free_port

from api import create_app
from api.database import create_schema, db
from api.models import OutboxMail
from api.origin import CLI
from api.services import accounts, mail_delivery, outbox


@pytest.fixture
def config(config, mailbox):
    return {**config, "MAIL_URL": mailbox.url, "MAIL_FROM": "Tessera <no-reply@tessera.test>"}


def _rows(app) -> list[OutboxMail]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)))


def test_a_command_that_writes_a_mail_delivers_it_over_smtp(cli, make_user, mailbox, app):
    make_user("alice")
    result = cli("users", "set-email", "alice", "alice@example.test")
    assert result.exit_code == 0, result.output
    mail = mailbox.wait_for()
    assert mail.recipients == ["alice@example.test"]
    assert mail.message["From"] == "Tessera <no-reply@tessera.test>"
    assert mail.message["Subject"] == "Verify your address"
    (row,) = _rows(app)
    assert row.sent_at is not None and row.body is None  # dropped once sent
    assert mail.token not in json.dumps([row.recipient, row.subject, row.last_error])


def test_a_waiting_body_is_encrypted_and_holds_no_readable_token(app, cli, make_user):
    app.config["MAIL_URL"] = None
    make_user("alice")
    cli("users", "set-email", "alice", "alice@example.test")
    (row,) = _rows(app)
    assert row.sent_at is None and row.body is not None
    assert "token" not in row.body and "ev." not in row.body
    with app.app_context():
        (claimed,) = outbox.claim_mails(1)
    assert "Or use this token:\nev." in claimed.text


def test_a_mail_rolled_back_with_its_change_is_never_sent(app, mailbox):
    with app.app_context():
        outbox.add_mail("alice@example.test", "test", "Hello", "a body")
        db.session.rollback()
        assert outbox.waiting_count() == 0
        assert mail_delivery.deliver().sent == 0
    assert mailbox.received == []


def test_a_mail_written_while_smtp_is_down_arrives_exactly_once_when_it_is_up(app, cli, make_user):
    down = mailbox_on_a_free_port()
    app.config["MAIL_URL"] = down.url
    make_user("alice")
    made = cli("users", "set-email", "alice", "alice@example.test")
    assert made.exit_code == 0, made.output
    assert "waits in the outbox" in made.output
    (row,) = _rows(app)
    assert row.sent_at is None and row.attempts == 1 and row.body is not None
    assert "ConnectionRefusedError" in row.last_error
    refused = cli("mail", "send")
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines()[-1].startswith("error: 1 mail(s) could not be sent")
    down.start()
    try:
        sent = cli("mail", "send")
        again = cli("mail", "send")
    finally:
        down.stop()
    assert sent.exit_code == 0 and "1 mail(s) sent" in sent.output
    assert again.exit_code == 0 and "0 mail(s) sent" in again.output
    assert [mail.recipients for mail in down.received] == [["alice@example.test"]]
    (row,) = _rows(app)
    assert row.sent_at is not None and row.body is None and row.attempts == 2


def test_two_senders_never_claim_one_mail(app, make_user):
    app.config["MAIL_URL"] = None
    with app.app_context():
        for number in range(5):
            outbox.add_mail(f"user{number}@example.test", "test", "Hello", "body")
        db.session.commit()
        first = outbox.claim_mails(3)
        second = outbox.claim_mails(10)
        third = outbox.claim_mails(10)
    assert len(first) == 3 and len(second) == 2 and third == []
    assert {mail.id for mail in first}.isdisjoint(mail.id for mail in second)


def test_a_refused_mail_waits_for_its_backoff(app, clock):
    app.config["MAIL_URL"] = mailbox_on_a_free_port().url
    with app.app_context():
        outbox.add_mail("a@example.test", "test", "Hello", "body")
        db.session.commit()
        assert mail_delivery.deliver().failed == 1
        assert mail_delivery.deliver().failed == 0  # not due yet: nothing tried
        clock.shift(31)
        assert mail_delivery.deliver().failed == 1
        clock.shift(31)
        assert mail_delivery.deliver().failed == 0  # the second wait is 60 s
        clock.shift(30)
        assert mail_delivery.deliver().failed == 1


def test_mail_list_shows_the_outbox_and_never_a_body(app, cli, make_user, mailbox):
    make_user("alice")
    cli("users", "set-email", "alice", "alice@example.test")
    token = mailbox.wait_for().token
    listed = cli("mail", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (record,) = [json.loads(line) for line in listed.output.splitlines()]
    assert record["recipient"] == "alice@example.test"
    assert record["sent_at"] is not None
    assert token not in listed.output
    pending = cli("mail", "list", "--pending")
    assert pending.output.splitlines()[0].split()[:2] == ["id", "recipient"]
    assert len(pending.output.splitlines()) == 1


def test_mail_send_without_a_mail_url_says_so(app, cli):
    app.config["MAIL_URL"] = None
    result = cli("mail", "send")
    assert result.exit_code == 1
    assert (
        result.output.strip() == "error: MAIL_URL is not set: mails wait in the outbox until it is"
    )


def test_the_console_prints_the_mail_on_stderr(app, make_user, capsys):
    app.config["MAIL_URL"] = "console:"
    make_user("alice")
    with app.app_context():
        user = accounts.get_user("alice")
        accounts.update_user(user, {"email": "alice@example.test"}, origin=CLI)
        assert mail_delivery.deliver().sent == 1
    lines = capsys.readouterr().err.splitlines()
    assert "To: alice@example.test" in lines
    # The token whole on the line after its caption, as the mail's text has it (not cut by
    # quoted-printable's soft line breaks), and the link that carries it intact too.
    token = lines[lines.index("Or use this token:") + 1]
    assert len(token) > 76 and "=" not in token
    assert any(line.endswith(quote(token, safe="")) for line in lines if "://" in line)


def test_metrics_tell_how_many_mails_wait(app, tmp_path):
    metered = create_app(
        {**app.config, "METRICS_ENABLED": True, "MAIL_URL": None},
        instance_path=str(tmp_path / "metered"),
    )
    with metered.app_context():
        create_schema()
        for number in range(2):
            outbox.add_mail(f"u{number}@example.test", "test", "Hello", "body")
        db.session.commit()
    body = metered.test_client().get("/metrics").get_data(as_text=True)
    assert "tessera_outbox_waiting 2.0" in body
