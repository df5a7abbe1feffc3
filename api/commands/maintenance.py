"""``manage.py init-db`` and ``manage.py sessions prune``: the schema and old records."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from api import database
from api.commands.common import CommandError
from api.config import describe_instance
from api.origin import CLI
from api.services import sessions

sessions_group = AppGroup("sessions", help="Look after login session records.")


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the schema; safe to run again."""
    try:
        result = database.upgrade_schema()
    except database.SchemaError as exc:
        raise CommandError(str(exc)) from None
    click.echo(describe_instance(current_app))
    if result.adopted:
        click.echo(f"adopted the existing tables as revision {database.BASELINE_REVISION}")
    if result.before == result.after:
        click.echo(f"database ready: schema already at revision {result.after}")
    else:
        click.echo(f"database ready: schema upgraded to revision {result.after}")


@sessions_group.command("prune")
def prune() -> None:
    """Delete the records of expired and revoked sessions."""
    click.echo(f"{sessions.prune_sessions(origin=CLI)} session record(s) deleted")
