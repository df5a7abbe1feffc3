"""The administrator's CLI: ``init-db`` and the ``users``, ``sessions``, ``tokens``, ``audit``
and ``secret`` groups.

Every failure is one line on stderr and exit code 1, and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import datetime

import click
from flask import Flask, current_app, has_app_context
from flask.cli import AppGroup, with_appcontext
from marshmallow import ValidationError
from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from . import database, encryption, keys
from .database import db
from .errors import NotFound, ServiceError
from .fields import UTCTime
from .models import LoginSession, Note, PersonalToken, User
from .routing import MAX_ID
from .services import accounts, audit_trail, mfa, personal_tokens, revocation, sessions

users = AppGroup("users", help="Create, list and change user accounts.")
sessions_group = AppGroup("sessions", help="Look after login session records.")
tokens_group = AppGroup("tokens", help="List and end personal access tokens.")
audit = AppGroup("audit", help="Read and prune the audit trail.")
secret = AppGroup("secret", help="Rotate the token signing key and the MFA encryption key.")


class CommandError(click.ClickException):
    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def fail_cleanly(command):
    """Turn a refused use case into one line on stderr and exit code 1."""

    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ServiceError as exc:
            db.session.rollback()
            raise CommandError(exc.detail) from None

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run


INIT_DB = "python manage.py init-db"


@contextlib.contextmanager
def failures_explained() -> Iterator[None]:
    """Turn what any command can meet (no database, no schema yet, no terminal) into one line.

    ``manage.py`` runs every command inside this, so no failure ends in a traceback.
    """
    try:
        yield
    except click.Abort:
        raise CommandError("aborted; nothing changed") from None
    except SQLAlchemyError as exc:
        if has_app_context():
            with contextlib.suppress(SQLAlchemyError):
                db.session.rollback()
        raise CommandError(_describe_database_error(exc)) from None


def _describe_database_error(error: SQLAlchemyError) -> str:
    cause = getattr(error, "orig", None) or error
    said = " ".join(str(cause).split()) or type(cause).__name__  # one line, never the SQL
    if database.is_missing_schema_error(error):
        with contextlib.suppress(SQLAlchemyError):
            problem = database.schema_problem()
            if problem:
                return f"{problem}: run `{INIT_DB}`"
        return f"the database lacks what this code uses ({said}): run `{INIT_DB}`"
    if isinstance(error, OperationalError):
        url = db.engine.url if has_app_context() else None
        if url is not None and url.get_backend_name() == "sqlite":
            return f"cannot open the SQLite database {url.database}: {said}"
        return f"cannot reach the database: {said}"
    if isinstance(error, DBAPIError):
        return f"the database refused the command: {said}"
    return f"database error: {said}"


def stdin_is_a_terminal() -> bool:
    """Tell whether someone can be asked a question on standard input."""
    return sys.stdin.isatty()


def read_new_password(from_stdin: bool) -> str:
    """Read a password from stdin, or ask twice without echo; never from argv."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    if not stdin_is_a_terminal():
        raise CommandError("no terminal to ask for the password: use --password-stdin")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the schema; safe to run again."""
    try:
        result = database.upgrade_schema()
    except database.SchemaError as exc:
        raise CommandError(str(exc)) from None
    if result.adopted:
        click.echo(f"adopted the existing tables as revision {database.BASELINE_REVISION}")
    if result.before == result.after:
        click.echo(f"database ready: schema already at revision {result.after}")
    else:
        click.echo(f"database ready: schema upgraded to revision {result.after}")


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the user admin rights.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@fail_cleanly
def create_user(username: str, admin: bool, password_stdin: bool) -> None:
    """Create a user; the password is asked for twice, or read from stdin."""
    user = accounts.create_user(username, read_new_password(password_stdin), is_admin=admin)
    click.echo(f"created user {user.username!r} (id {user.id}{', admin' if admin else ''})")


def _user_record(user: User) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "is_admin": user.is_admin,
        "is_active": user.is_active,
        "mfa_enabled": user.mfa_enabled,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def list_users(as_json: bool) -> None:
    """List every user."""
    records = [_user_record(user) for user in accounts.all_users()]
    if as_json:
        for record in records:
            click.echo(json.dumps(record))
        return
    _echo_table(
        ["id", "username", "is_admin", "is_active", "mfa_enabled", "created_at", "last_login_at"],
        records,
    )


def _echo_table(columns: list[str], records: list[dict]) -> None:
    """Print ``records`` as a table of ``columns``, a header first; a missing value is ``-``."""
    rows = [[_cell(r[c]) for c in columns] for r in records]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())


def _cell(value) -> str:
    if value is None:
        return "-"
    return ",".join(value) if isinstance(value, list) else str(value)


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@fail_cleanly
def set_password(username: str, password_stdin: bool) -> None:
    """Set a user's password and end their sessions."""
    user = accounts.get_user(username)
    accounts.update_user(user, {"password": read_new_password(password_stdin)})
    click.echo(f"password set for {user.username!r}; their sessions ended")


def _flag_command(name: str, field: str, value: bool, done: str):
    @fail_cleanly
    def command(username: str) -> None:
        user = accounts.get_user(username)
        accounts.update_user(user, {field: value})
        click.echo(f"{user.username!r} {done}")

    command.__name__ = name.replace("-", "_")
    return command


for _name, _field, _value, _done, _help in [
    ("activate", "is_active", True, "activated", "Let a user log in again."),
    (
        "deactivate",
        "is_active",
        False,
        "deactivated; their sessions ended",
        "Stop a user from logging in and end their sessions.",
    ),
    ("promote", "is_admin", True, "is now an admin", "Give a user admin rights."),
    ("demote", "is_admin", False, "is no longer an admin", "Take a user's admin rights."),
]:
    users.command(_name, help=_help)(
        click.argument("username")(_flag_command(_name, _field, _value, _done))
    )


@users.command("revoke")
@click.argument("username")
@fail_cleanly
def revoke(username: str) -> None:
    """End every session and every personal access token of a user."""
    ended, tokens_ended = revocation.end_all_credentials(accounts.get_user(username).id)
    click.echo(f"{ended} session(s) and {tokens_ended} personal access token(s) ended")


@users.command("mfa-reset")
@click.argument("username")
@fail_cleanly
def mfa_reset(username: str) -> None:
    """Turn a user's TOTP off (a lost phone) and end their sessions."""
    user = accounts.get_user(username)
    ended = mfa.reset(user.id)
    click.echo(f"TOTP turned off for {user.username!r}; {ended} session(s) ended")


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@fail_cleanly
def delete(username: str, yes: bool) -> None:
    """Delete a user with their notes and sessions."""
    user = accounts.get_user(username)
    if not yes and not stdin_is_a_terminal():
        raise CommandError("no terminal to ask for confirmation: use --yes")
    if not yes and not click.confirm(f"Delete {user.username!r} with their notes and sessions?"):
        raise CommandError("not deleted")
    accounts.delete_user(user)
    click.echo(f"deleted {user.username!r}")


@sessions_group.command("prune")
def prune() -> None:
    """Delete the records of expired and revoked sessions."""
    click.echo(f"{sessions.prune_sessions()} session record(s) deleted")


def _token_record(record: PersonalToken, username: str) -> dict:
    return {
        "id": record.id,
        "user": username,
        "name": record.name,
        "scopes": record.scope_list,
        "expires_at": record.expires_at.isoformat(),
        "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
        "key_id": record.key_id,
    }


@tokens_group.command("list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@fail_cleanly
def list_tokens(username: str | None, as_json: bool) -> None:
    """List live personal access tokens, of one user or of all; never a token itself."""
    user_id = accounts.get_user(username).id if username is not None else None
    records = [_token_record(*found) for found in personal_tokens.all_live_tokens(user_id)]
    if as_json:
        for record in records:
            click.echo(json.dumps(record))
        return
    _echo_table(["id", "user", "name", "scopes", "expires_at", "last_used_at", "key_id"], records)


@tokens_group.command("revoke")
@click.argument("token_id")
@fail_cleanly
def revoke_token(token_id: str) -> None:
    """End one personal access token, named by the id ``tokens list`` shows."""
    if not token_id.isdigit() or not 1 <= int(token_id) <= MAX_ID:
        raise NotFound("no such personal access token")
    record = personal_tokens.revoke_personal_token(int(token_id))
    click.echo(f"personal access token {record.id} ({record.name!r}) ended")


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


def _event_record(event: Row) -> dict:
    return {
        "id": event.id,
        "time": event.time.isoformat(),
        "event": event.event,
        "outcome": event.outcome,
        "user_id": event.user_id,
        "actor_id": event.actor_id,
        "session_id": event.session_id,
        "client": event.client,
        "user_agent": event.user_agent,
        "fields": event.fields,
    }


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
    events = audit_trail.all_events(
        user_id, event, _time_option("--since", since), _time_option("--until", until)
    )
    columns = ["id", "time", "event", "outcome", "user_id", "actor_id", "client"]
    for record in map(_event_record, events):
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=True))
        else:  # one line an event, streamed: no widths to align on
            cells = ["-" if record[c] is None else str(record[c]) for c in columns]
            click.echo("  ".join([*cells, json.dumps(record["fields"], ensure_ascii=True)]))


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
    if days is None:
        older_than = int(current_app.config["AUDIT_RETENTION_DAYS"])
    elif days.isascii() and days.isdigit():
        older_than = int(days)
    else:
        raise CommandError("--older-than must be a whole number of days")
    click.echo(f"{audit_trail.prune_events(older_than)} audit event(s) deleted")


@secret.command("rotate")
@click.option(
    "--drop-old",
    is_flag=True,
    help=(
        "Remove keys no live token can name any more: those replaced longer ago than the "
        "longest session token lifetime, unless a live personal access token was signed "
        "with them."
    ),
)
def rotate(drop_old: bool) -> None:
    """Add a new signing key; older keys keep verifying the tokens they signed.

    A personal access token lives up to PERSONAL_TOKEN_MAX_AGE, so --drop-old keeps every
    key a live one was signed with (revoke such tokens to let their key go).
    """
    config = current_app.config
    if config["SECRET_KEY_FROM_CONFIG"]:
        raise CommandError(
            "SECRET_KEY is configured, not generated: rotate it by setting SECRET_KEY "
            "and SECRET_KEY_FALLBACKS"
        )
    try:
        # Asked first, so that a database that cannot answer leaves the keys as they were.
        in_use = personal_tokens.key_ids_in_use() if drop_old else set()
    except SQLAlchemyError:
        raise CommandError(
            "the database cannot say which keys live personal access tokens need; "
            "no key was added or dropped"
        ) from None
    try:
        count = keys.rotate_key(current_app.instance_path)
        click.echo(f"new signing key added; {count} key(s) held; restart the server to use it")
        if drop_old:
            longest = max(config["ACCESS_TOKEN_MAX_AGE"], config["REFRESH_TOKEN_MAX_AGE"])
            dropped = keys.drop_old_keys(current_app.instance_path, longest, in_use)
            click.echo(f"{dropped} old key(s) dropped")
    except keys.KeyFileError as exc:
        raise CommandError(str(exc)) from None


@secret.command("rotate-mfa-key")
@click.option(
    "--drop-old",
    is_flag=True,
    help="Then remove the older keys from the instance key file: no stored secret needs them.",
)
def rotate_mfa_key(drop_old: bool) -> None:
    """Encrypt every stored TOTP secret again with a new key (MultiFernet.rotate).

    With the keys in the instance folder, a new key is added first. With MFA_ENCRYPTION_KEYS
    configured, put the new key first on every host and restart them, then run this to
    re-encrypt with it; remove the old key from the configuration afterwards.
    """
    config = current_app.config
    configured = config["MFA_ENCRYPTION_KEYS"]
    if configured and drop_old:
        raise CommandError(
            "MFA_ENCRYPTION_KEYS is configured: drop an old key by removing it from the "
            "configuration of every host"
        )
    instance = current_app.instance_path
    try:
        before, after = ([], []) if configured else encryption.add_file_key(instance)
        box = encryption.SecretBox(configured, instance)
        try:
            count = mfa.reencrypt_secrets(box)
            db.session.commit()
        except (SQLAlchemyError, encryption.UndecryptableSecret) as exc:
            db.session.rollback()
            if before:
                encryption.write_file_keys(instance, before)  # as it was: nothing changed
            # A database error's text would show its SQL statement: name the cause only.
            cause = str(exc) if isinstance(exc, RuntimeError) else "the database failed"
            raise CommandError(f"no secret was re-encrypted: {cause}") from None
        if drop_old and not configured:
            encryption.write_file_keys(instance, after[-1:])
    except keys.KeyFileError as exc:
        raise CommandError(str(exc)) from None
    click.echo(f"{count} secret(s) encrypted with the newest MFA key")
    if not configured:
        held = 1 if drop_old else len(after)
        click.echo(f"{held} MFA key(s) held in {encryption.KEY_FILE}")


def shell_context() -> dict:
    return {
        "db": db,
        "User": User,
        "LoginSession": LoginSession,
        "Note": Note,
        "PersonalToken": PersonalToken,
    }


def init_app(app: Flask) -> None:
    """Register the commands and the shell's ready-made names."""
    app.cli.add_command(init_db)
    app.cli.add_command(users)
    app.cli.add_command(sessions_group)
    app.cli.add_command(tokens_group)
    app.cli.add_command(audit)
    app.cli.add_command(secret)
    app.shell_context_processor(shell_context)
