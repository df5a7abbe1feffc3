"""``POST /email`` and ``POST /email/verify``: changing and verifying the account's address."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema

from api.auth import blp
from api.auth.signup import AcceptedSchema, TokenSchema
from api.credentials.scopes import ACCOUNT
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.email_fields import EmailAddress
from api.security import requires
from api.services import email_change

CHANGE_ANSWER = "A link to verify the new address was mailed to it."


class EmailChangeSchema(Schema):
    email = EmailAddress(required=True)


@blp.route("/email", methods=["POST"])
@requires(ACCOUNT, fresh=True)
@raises(429)
@blp.arguments(EmailChangeSchema)
@blp.response(202, AcceptedSchema)
def change_email(body):
    """Ask to change the account's address: the new one gets a link, the old one a notice."""
    email_change.request_change(current_user.id, body["email"], origin=request_origin(current_user))
    return {"detail": CHANGE_ANSWER}


@blp.route("/email/verify", methods=["POST"])
@raises(400, 409)
@blp.arguments(TokenSchema)
@blp.response(204)
def verify_email(body):
    """Verify an address with the mailed token: it is now the account's, verified."""
    email_change.verify_address(body["token"], origin=request_origin())
