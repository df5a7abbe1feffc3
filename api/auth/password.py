"""``POST /password``: the caller changes their own password."""

from __future__ import annotations

from marshmallow import Schema

from ..client_info import current_client
from ..fields import NewPassword, Password
from ..scopes import ACCOUNT
from ..security import caller, requires
from ..services import sessions
from ..views import raises
from . import blp


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
