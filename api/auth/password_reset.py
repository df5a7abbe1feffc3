"""``POST /password/forgot`` and ``POST /password/reset``: a forgotten password, by email."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.auth import blp
from api.auth.signup import AcceptedSchema
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.email_fields import EmailAddress
from api.http.fields import NewPassword
from api.services import password_reset

FORGOT_ANSWER = (
    "If an account has this verified address, a link to reset its password was mailed to it."
)


class ForgotSchema(Schema):
    email = EmailAddress(required=True)


class ResetSchema(Schema):
    token = fields.String(
        required=True,
        metadata={"description": "From the reset mail.", "example": examples.MAIL_TOKEN},
    )
    new_password = NewPassword(required=True, metadata={"example": examples.NEW_PASSWORD})


@blp.route("/password/forgot", methods=["POST"])
@raises(429)
@blp.arguments(ForgotSchema)
@blp.response(202, AcceptedSchema)
def forgot_password(body):
    """Ask for a password reset; the same answer whether or not an account has the address."""
    password_reset.request_reset(body["email"], origin=request_origin())
    return {"detail": FORGOT_ANSWER}


@blp.route("/password/reset", methods=["POST"])
@raises(400)
@blp.arguments(ResetSchema)
@blp.response(204)
def reset_password(body):
    """Set a new password with a reset token; every session and PAT of the user ends."""
    password_reset.reset_password(body["token"], body["new_password"], origin=request_origin())
