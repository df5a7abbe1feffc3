"""``POST /reauthenticate``: prove the user again in the same session (RFC 9470's step-up)."""

from __future__ import annotations

from dataclasses import asdict

from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validates_schema

from api.auth import blp
from api.auth.login import TokenPairSchema
from api.credentials.scopes import ACCOUNT
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.fields import Password, RecoveryCode, TotpCode
from api.http.webauthn import AuthenticationCredentialSchema, state_field
from api.security import requires
from api.services import passkey_login, second_step

PASSWORD_FIELDS = ("password", "code", "recovery_code")


class ReauthenticateSchema(Schema):
    """The password and, for a user with TOTP on, a ``code`` or a ``recovery_code``; or a
    passkey's assertion with the ``state`` of ``POST /reauthenticate/passkey/options``."""

    password = Password(metadata={"example": examples.PASSWORD})
    code = TotpCode(metadata={"example": examples.TOTP_CODE})
    recovery_code = RecoveryCode(metadata={"example": examples.RECOVERY_CODE})
    state = state_field()
    credential = fields.Nested(AuthenticationCredentialSchema)
    json_schema_rules = {
        "oneOf": [
            {
                "required": ["password"],
                "not": {
                    "anyOf": [{"required": ["code", "recovery_code"]}, {"required": ["state"]}]
                },
            },
            {
                "required": ["state", "credential"],
                "not": {"anyOf": [{"required": [name]} for name in PASSWORD_FIELDS]},
            },
        ]
    }
    # The password alone: a code is for a user with TOTP on, and is refused for the others.
    json_schema_example = {"password": examples.PASSWORD}

    @validates_schema
    def _one_proof(self, data, **kwargs):
        with_passkey = "state" in data or "credential" in data
        if with_passkey == ("password" in data):
            raise ValidationError(
                "Give either the password or a passkey's state and credential.", "_schema"
            )
        if with_passkey and not ("state" in data and "credential" in data):
            raise ValidationError("A passkey needs both state and credential.", "_schema")
        if with_passkey and ("code" in data or "recovery_code" in data):
            raise ValidationError("A passkey needs no code.", "_schema")
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
    replaced). A wrong password or code, or a refused passkey, is 403 and a failed attempt.
    """
    if "state" in body:
        pair = passkey_login.reauthenticate(
            current_user.id,
            current_user.session_id,
            body["state"],
            body["credential"],
            origin=request_origin(current_user),
        )
        return asdict(pair)
    pair = second_step.reauthenticate(
        current_user.id,
        current_user.session_id,
        body["password"],
        body.get("code"),
        body.get("recovery_code"),
        origin=request_origin(current_user),
    )
    return asdict(pair)
