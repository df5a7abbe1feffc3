"""``manage.py passkeys``: list and revoke users' passkeys; never key material."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from marshmallow import fields

from api.auth.passkeys import PasskeySchema
from api.commands.common import echo_records, fail_cleanly
from api.errors import NotFound
from api.http.routing import MAX_ID
from api.origin import CLI
from api.services import accounts, passkeys

passkeys_group = AppGroup("passkeys", help="List and revoke users' passkeys.")


class ListedPasskeySchema(PasskeySchema):
    """A passkey as ``passkeys list`` shows it: the API's record of it, with its owner's name.

    It dumps what ``all_passkeys`` gives, a record and its owner's name.
    """

    user = fields.String(required=True)

    class Meta:
        fields = ("id", "user", "name", "created_at", "last_used_at", "disabled_at")

    def get_attribute(self, obj: tuple[Any, str], attr: str, default: Any) -> Any:
        record, username = obj
        return username if attr == "user" else super().get_attribute(record, attr, default)


@passkeys_group.command("list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@fail_cleanly
def list_passkeys(username: str | None, as_json: bool) -> None:
    """List passkeys, of one user or of all: id, user, name, created, last use."""
    user_id = accounts.get_user(username).id if username is not None else None
    echo_records(ListedPasskeySchema(), passkeys.all_passkeys(user_id), as_json)


@passkeys_group.command("revoke")
@click.argument("passkey_id")
@fail_cleanly
def revoke_passkey(passkey_id: str) -> None:
    """Remove one passkey, named by the id ``passkeys list`` shows: it logs no one in."""
    if not passkey_id.isdigit() or not 1 <= int(passkey_id) <= MAX_ID:
        raise NotFound("no such passkey")
    removed, name = passkeys.revoke_passkey(int(passkey_id), origin=CLI)
    click.echo(f"passkey {removed} ({name!r}) removed")
