"""``manage.py tokens``: list and end personal access tokens; never a token itself."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from marshmallow import fields

from api.auth.personal_access_tokens import PersonalTokenSchema
from api.commands.common import echo_records, fail_cleanly
from api.errors import NotFound
from api.http.routing import MAX_ID
from api.origin import CLI
from api.services import accounts, personal_access_tokens

tokens_group = AppGroup("tokens", help="List and end personal access tokens.")


class ListedTokenSchema(PersonalTokenSchema):
    """A token as ``tokens list`` shows it: the API's record of it, with its owner's name and
    the id of the key that signed it (the key ``secret rotate --drop-old`` must keep).

    It dumps what ``all_live_tokens`` gives, a record and its owner's name.
    """

    user = fields.String(required=True)
    key_id = fields.String(required=True)

    class Meta:
        fields = (
            "id",
            "user",
            "name",
            "scopes",
            "expires_at",
            "last_used_at",
            "dpop_bound",
            "key_id",
        )

    def get_attribute(self, obj: tuple[Any, str], attr: str, default: Any) -> Any:
        record, username = obj
        return username if attr == "user" else super().get_attribute(record, attr, default)


@tokens_group.command("list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@fail_cleanly
def list_tokens(username: str | None, as_json: bool) -> None:
    """List live personal access tokens, of one user or of all; never a token itself."""
    user_id = accounts.get_user(username).id if username is not None else None
    echo_records(ListedTokenSchema(), personal_access_tokens.all_live_tokens(user_id), as_json)


@tokens_group.command("revoke")
@click.argument("token_id")
@fail_cleanly
def revoke_token(token_id: str) -> None:
    """End one personal access token, named by the id ``tokens list`` shows."""
    if not token_id.isdigit() or not 1 <= int(token_id) <= MAX_ID:
        raise NotFound("no such personal access token")
    record = personal_access_tokens.revoke_personal_token(int(token_id), origin=CLI)
    click.echo(f"personal access token {record.id} ({record.name!r}) ended")
