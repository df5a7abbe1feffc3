"""``POST /password``: the caller changes their own password."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema

from api.auth import blp
from api.credentials.scopes import ACCOUNT
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.fields import NewPassword, Password
from api.security import requires
from api.services import password_change


class PasswordChangeSchema(Schema):
    current_password = Password(required=True, metadata={"example": examples.PASSWORD})
    new_password = NewPassword(required=True, metadata={"example": examples.NEW_PASSWORD})


@blp.route("/password", methods=["POST"])
@requires(ACCOUNT)
@raises(403, 429)
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
def change_password(body):
    """Change the password; every other session of the caller ends."""
    password_change.change_password(
        current_user.id,
        current_user.session_id,
        body["current_password"],
        body["new_password"],
        origin=request_origin(current_user),
    )
