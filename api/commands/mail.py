"""``manage.py mail``: the outbox, listed (never a body), delivered once or delivered on, and
pruned of the mails long sent."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup
from marshmallow import Schema, fields

from api.commands.common import CommandError, echo_records, fail_cleanly, retention_days
from api.models import utcnow
from api.origin import CLI
from api.services import mail_delivery, outbox

mail = AppGroup("mail", help="List, deliver and prune the outbox.")
# How often ``mail worker`` looks for mails other processes wrote, at most.
WORKER_INTERVAL = 5.0


class OutboxMailSchema(Schema):
    """A mail as the CLI shows it: where and what, never its body (it may hold a token)."""

    id = fields.Integer()
    recipient = fields.String()
    kind = fields.String()
    subject = fields.String()
    created_at = fields.DateTime()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)


@mail.command("list")
@click.option("--pending", is_flag=True, help="Only the mails waiting to be sent.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def list_mails(pending: bool, as_json: bool) -> None:
    """List the outbox's mails, oldest first."""
    echo_records(OutboxMailSchema(), outbox.list_mails(pending), as_json)


@mail.command("send")
def send() -> None:
    """Deliver every waiting mail now, retries included; exit 1 if some could not be sent."""
    _require_mail_url()
    report = mail_delivery.deliver(due_only=False, origin=CLI)
    click.echo(f"{report.sent} mail(s) sent")
    if report.failed:
        raise CommandError(
            f"{report.failed} mail(s) could not be sent; they wait in the outbox for a retry"
        )


@mail.command("worker")
def worker() -> None:
    """Keep delivering the outbox (beside gunicorn, or instead of its threads); Ctrl-C stops."""
    _require_mail_url()
    click.echo("delivering the outbox; Ctrl-C stops", err=True)
    try:
        while True:
            mail_delivery.deliver(origin=CLI)
            wait = outbox.next_attempt_in(utcnow())
            time.sleep(WORKER_INTERVAL if wait is None else min(max(wait, 1.0), WORKER_INTERVAL))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@mail.command("prune")
@click.option(
    "--older-than",
    "days",
    metavar="DAYS",
    help="Delete mails sent more than this many days ago (default: AUDIT_RETENTION_DAYS).",
)
@fail_cleanly
def prune(days: str | None) -> None:
    """Delete the mails sent past their retention, never one still waiting; print how many."""
    older_than = retention_days(days)
    click.echo(f"{outbox.prune_sent(older_than, origin=CLI)} mail(s) deleted")


def _require_mail_url() -> None:
    if not current_app.config["MAIL_URL"]:
        raise CommandError("MAIL_URL is not set: mails wait in the outbox until it is")
