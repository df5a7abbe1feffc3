"""``POST /reauthenticate``: prove the user again in the same session (RFC 9470's step-up)."""

from __future__ import annotations

from dataclasses import asdict

from flask_login import current_user
from marshmallow import Schema, ValidationError, validates_schema

from api.auth import blp
from api.auth.login import TokenPairSchema
from api.credentials.scopes import ACCOUNT
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.fields import Password, RecoveryCode, TotpCode
from api.security import requires
from api.services import second_step


class ReauthenticateSchema(Schema):
    """The password and, for a user with TOTP on, a ``code`` or a ``recovery_code``."""

    password = Password(required=True, metadata={"example": examples.PASSWORD})
    code = TotpCode(metadata={"example": examples.TOTP_CODE})
    recovery_code = RecoveryCode(metadata={"example": examples.RECOVERY_CODE})
    json_schema_rules = {"not": {"required": ["code", "recovery_code"]}}
    # The password alone: a code is for a user with TOTP on, and is refused for the others.
    json_schema_example = {"password": examples.PASSWORD}

    @validates_schema
    def _at_most_one_factor(self, data, **kwargs):
        # Whether a factor is needed at all is the user's: the service says.
        if "code" in data and "recovery_code" in data:
            raise ValidationError("Give either code or recovery_code, not both.", "_schema")


@blp.route("/reauthenticate", methods=["POST"])
@requires(ACCOUNT)
@raises(403, 429)
@blp.arguments(ReauthenticateSchema)
@blp.response(200, TokenPairSchema)
def reauthenticate(body):
    """Prove yourself again: the session's login counts as fresh for `REAUTH_MAX_AGE` again.

    Answers a new token pair of the same session (the refresh token sent before is
    replaced). A wrong password or code is 403 and a failed attempt.
    """
    pair = second_step.reauthenticate(
        current_user.id,
        current_user.session_id,
        body["password"],
        body.get("code"),
        body.get("recovery_code"),
        origin=request_origin(current_user),
    )
    return asdict(pair)
