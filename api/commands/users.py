"""``manage.py users``: create, list and change user accounts."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from api.commands import common
from api.commands.common import CommandError, echo_table, fail_cleanly, read_new_password
from api.models import User
from api.services import accounts, mfa, revocation

users = AppGroup("users", help="Create, list and change user accounts.")


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
    echo_table(
        ["id", "username", "is_admin", "is_active", "mfa_enabled", "created_at", "last_login_at"],
        records,
    )


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
    if not yes and not common.stdin_is_a_terminal():
        raise CommandError("no terminal to ask for confirmation: use --yes")
    if not yes and not click.confirm(f"Delete {user.username!r} with their notes and sessions?"):
        raise CommandError("not deleted")
    accounts.delete_user(user)
    click.echo(f"deleted {user.username!r}")
