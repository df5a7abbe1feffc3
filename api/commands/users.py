"""``manage.py users``: create, list and change user accounts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from api.commands import common
from api.commands.common import CommandError, echo_records, fail_cleanly, read_new_password
from api.origin import CLI
from api.resources.users import UserSchema
from api.services import accounts, email_addresses, invitations, mfa, revocation

users = AppGroup("users", help="Create, list and change user accounts.")


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the user admin rights.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--email", help="The user's address: mailed a link that verifies it.")
@fail_cleanly
def create_user(username: str, admin: bool, password_stdin: bool, email: str | None) -> None:
    """Create a user; the password is asked for twice, or read from stdin."""
    if email is not None:
        email_addresses.checked_address(email)  # before asking for a password
    password = read_new_password(password_stdin, username)
    user = accounts.create_user(username, password, is_admin=admin, origin=CLI, email=email)
    click.echo(f"created user {user.username!r} (id {user.id}{', admin' if admin else ''})")


@users.command("invite")
@click.argument("email")
@click.option("--admin", is_flag=True, help="The account will be an admin's.")
@fail_cleanly
def invite(email: str, admin: bool) -> None:
    """Mail an invitation to open an account."""
    invitations.invite(email, admin, origin=CLI)
    click.echo(f"invitation mailed to {email}")


@users.command("set-email")
@click.argument("username")
@click.argument("email")
@fail_cleanly
def set_email(username: str, email: str) -> None:
    """Set a user's address, unverified, and mail it a link that verifies it."""
    user = accounts.get_user(username)
    accounts.update_user(user, {"email": email}, origin=CLI)
    click.echo(f"address of {user.username!r} set to {email}; a verification link was mailed")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def list_users(as_json: bool) -> None:
    """List every user."""
    echo_records(UserSchema(), accounts.all_users(), as_json)


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@fail_cleanly
def set_password(username: str, password_stdin: bool) -> None:
    """Set a user's password and end their sessions."""
    user = accounts.get_user(username)
    password = read_new_password(password_stdin, user.username)
    accounts.update_user(user, {"password": password}, origin=CLI)
    click.echo(f"password set for {user.username!r}; their sessions ended")


def _flag_command(field: str, value: bool, done: str):
    @fail_cleanly
    def command(username: str) -> None:
        user = accounts.get_user(username)
        accounts.update_user(user, {field: value}, origin=CLI)
        click.echo(f"{user.username!r} {done}")

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
        click.argument("username")(_flag_command(_field, _value, _done))
    )


@users.command("revoke")
@click.argument("username")
@fail_cleanly
def revoke(username: str) -> None:
    """End every session and every personal access token of a user."""
    user_id = accounts.get_user(username).id
    ended, tokens_ended = revocation.end_all_credentials(user_id, origin=CLI)
    click.echo(f"{ended} session(s) and {tokens_ended} personal access token(s) ended")


@users.command("mfa-reset")
@click.argument("username")
@fail_cleanly
def mfa_reset(username: str) -> None:
    """Turn a user's TOTP off (a lost phone, a lockout) and end their sessions.

    A user without TOTP is left as they are, sessions included, and the command says so and
    succeeds: what was asked for, no second factor, already holds.
    """
    user = accounts.get_user(username)
    ended = mfa.reset(user.id, origin=CLI)
    if ended is None:
        click.echo(f"{user.username!r} has no second factor; nothing changed")
        return
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
    accounts.delete_user(user, origin=CLI)
    click.echo(f"deleted {user.username!r}")
