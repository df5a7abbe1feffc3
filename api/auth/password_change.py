"""``POST /password``: the caller changes their own password."""

from __future__ import annotations

from marshmallow import Schema

from api.auth import blp
from api.credentials.scopes import ACCOUNT
from api.http.blueprint import raises
from api.http.client_info import current_client
from api.http.fields import NewPassword, Password
from api.security import caller, requires
from api.services import sessions


class PasswordChangeSchema(Schema):
    current_password = Password(required=True)
    new_password = NewPassword(required=True)


@blp.route("/password", methods=["POST"])
@requires(ACCOUNT)
@raises(403, 429)
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
def change_password(body):
    """Change the password; every other session of the caller ends."""
    principal = caller()
    sessions.change_password(
        principal.id,
        principal.session_id,
        body["current_password"],
        body["new_password"],
        current_client(),
    )
