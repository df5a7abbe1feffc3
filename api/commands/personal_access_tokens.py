"""``manage.py tokens``: list and end personal access tokens; never a token itself."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from api.commands.common import echo_table, fail_cleanly
from api.errors import NotFound
from api.http.routing import MAX_ID
from api.models import PersonalToken
from api.services import accounts, personal_access_tokens

tokens_group = AppGroup("tokens", help="List and end personal access tokens.")


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
    records = [_token_record(*found) for found in personal_access_tokens.all_live_tokens(user_id)]
    if as_json:
        for record in records:
            click.echo(json.dumps(record))
        return
    echo_table(["id", "user", "name", "scopes", "expires_at", "last_used_at", "key_id"], records)


@tokens_group.command("revoke")
@click.argument("token_id")
@fail_cleanly
def revoke_token(token_id: str) -> None:
    """End one personal access token, named by the id ``tokens list`` shows."""
    if not token_id.isdigit() or not 1 <= int(token_id) <= MAX_ID:
        raise NotFound("no such personal access token")
    record = personal_access_tokens.revoke_personal_token(int(token_id))
    click.echo(f"personal access token {record.id} ({record.name!r}) ended")
