"""``manage.py audit``: read and prune the audit trail."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from api.commands.common import CommandError, cell, echo_table, fail_cleanly, retention_days
from api.http.fields import UTCTime
from api.origin import CLI
from api.resources.audit_events import AuditEventSchema
from api.services import accounts, audit_events

audit = AppGroup("audit", help="Read and prune the audit trail.")
# The table's columns before the last, the event's own fields.
_COLUMNS = ("id", "time", "event", "outcome", "user_id", "actor_id", "client")


def _time_option(name: str, text: str | None) -> datetime | None:
    """Read an ISO 8601 time with an offset, as the API does; anything else is one error."""
    if text is None:
        return None
    try:
        return UTCTime().deserialize(text)
    except ValidationError:
        raise CommandError(
            f"{name} must be an ISO 8601 time with an offset, e.g. 2026-11-29T10:00:00+00:00"
        ) from None


@audit.command("list")
@click.option("--user", "username", metavar="NAME", help="Only the events naming this user.")
@click.option("--event", metavar="EVENT", help="Only events of this kind, e.g. login.")
@click.option("--since", metavar="TIME", help="Only events at or after this ISO 8601 time.")
@click.option("--until", metavar="TIME", help="Only events before this ISO 8601 time.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@fail_cleanly
def list_audit_events(
    username: str | None, event: str | None, since: str | None, until: str | None, as_json: bool
) -> None:
    """List audit events, newest first."""
    user_id = accounts.get_user(username).id if username is not None else None
    events = audit_events.all_events(
        user_id, event, _time_option("--since", since), _time_option("--until", until)
    )
    records = map(AuditEventSchema().dump, events)
    if as_json:
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=True))
        return
    echo_table([*_COLUMNS, "fields"], map(_row, records))


def _row(record: dict) -> list[str]:
    """One event's cells: its fields last, as JSON, whose escapes make them one printable line."""
    return [*(cell(record[c]) for c in _COLUMNS), json.dumps(record["fields"], ensure_ascii=True)]


@audit.command("prune")
@click.option(
    "--older-than",
    "days",
    metavar="DAYS",
    help="Delete events older than this many days (default: AUDIT_RETENTION_DAYS).",
)
@fail_cleanly
def prune_audit_events(days: str | None) -> None:
    """Delete audit events past their retention; print how many."""
    older_than = retention_days(days)
    click.echo(f"{audit_events.prune_events(older_than, origin=CLI)} audit event(s) deleted")
