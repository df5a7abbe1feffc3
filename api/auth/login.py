"""``POST /login``, ``POST /login/mfa`` and ``POST /refresh``: credentials in, a token pair
out."""

from __future__ import annotations

from dataclasses import asdict

from flask import request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.auth import blp
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.fields import Password, RecoveryCode, TotpCode
from api.security import dpop
from api.services import authentication, second_step, token_refresh


class LoginSchema(Schema):
    username = fields.String(
        required=True,
        validate=validate.Length(min=1, max=256),
        metadata={"example": examples.USERNAME},
    )
    password = Password(required=True, metadata={"example": examples.PASSWORD})
    device_token = fields.String(
        validate=validate.Length(min=1, max=4096),
        metadata={
            "description": "The `device_token` of this client's last login, if any: the "
            "attempt then counts on this device's own limit, not with strangers' guesses at "
            "the username. One of another user, expired or forged is ignored.",
            "example": examples.DEVICE_TOKEN,
        },
    )


class SecondStepSchema(Schema):
    mfa_token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=4096),
        metadata={
            "description": "From the 401 `mfa_required` answer of `POST /login`.",
            "example": examples.MFA_TOKEN,
        },
    )
    code = TotpCode(metadata={"example": examples.TOTP_CODE})
    recovery_code = RecoveryCode(metadata={"example": examples.RECOVERY_CODE})
    json_schema_rules = {"oneOf": [{"required": ["code"]}, {"required": ["recovery_code"]}]}
    # One factor of the two, as the rule above asks.
    json_schema_example = {"mfa_token": examples.MFA_TOKEN, "code": examples.TOTP_CODE}

    @validates_schema
    def _one_factor(self, data, **kwargs):
        if ("code" in data) == ("recovery_code" in data):
            raise ValidationError("Give either code or recovery_code.", "_schema")


class RefreshSchema(Schema):
    refresh_token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=4096),
        metadata={"example": examples.REFRESH_TOKEN},
    )


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    refresh_expires_in = fields.Integer(required=True)


class LoginAnswerSchema(TokenPairSchema):
    device_token = fields.String(
        required=True,
        metadata={"description": "Send it with this client's next `POST /login`."},
    )


def _logged_in(pair) -> dict:
    """The answer to a login: the token pair, and a new device token for the next one."""
    return {**asdict(pair), "device_token": authentication.device_token(pair.user_id)}


@blp.route("/login", methods=["POST"])
@raises(401, 429)
@blp.arguments(LoginSchema)
@blp.response(200, LoginAnswerSchema)
def login(credentials):
    """Log in with a username and password; get an access and a refresh token.

    For a user with TOTP on, the right password answers 401 with `"mfa_required": true`, an
    `mfa_token` and `mfa_expires_in` (seconds): send them with a code to `POST /login/mfa`.
    With a `DPoP` proof header the session is bound to its key (`"token_type": "DPoP"`).
    """
    key = dpop.token_endpoint_key(request, new_credential=True)
    pair = authentication.authenticate(
        credentials["username"],
        credentials["password"],
        origin=request_origin(),
        device=credentials.get("device_token"),
        dpop_jkt=key,
    )
    return _logged_in(pair)


@blp.route("/login/mfa", methods=["POST"])
@raises(401, 429)
@blp.arguments(SecondStepSchema)
@blp.response(200, LoginAnswerSchema)
def login_second_step(body):
    """Finish a login with a TOTP code (or a recovery code) and the `mfa_token`.

    Each code works once; the `mfa_token` is spent by its success, by 5 wrong codes or by
    its expiry. A wrong code is 401 and a failed attempt. After a `/login` with a `DPoP`
    proof, a proof of the same key is needed here too.
    """
    key = dpop.token_endpoint_key(request, new_credential=True)
    pair = second_step.complete_login(
        body["mfa_token"],
        body.get("code"),
        body.get("recovery_code"),
        origin=request_origin(),
        dpop_jkt=key,
    )
    return _logged_in(pair)


@blp.route("/refresh", methods=["POST"])
@raises(401)
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
def refresh(body):
    """Spend a refresh token for a new access and refresh token of the same session.

    A session bound to a DPoP key needs a `DPoP` proof of that key.
    """
    key = dpop.token_endpoint_key(request, new_credential=False)
    pair = token_refresh.refresh(body["refresh_token"], origin=request_origin(), dpop_jkt=key)
    return asdict(pair)
