"""``POST /login/passkey/options``, ``POST /login/passkey`` and
``POST /reauthenticate/passkey/options``: proving oneself with a passkey, no password.

The reauthentication itself is ``POST /reauthenticate`` with the credential in place of the
password (``auth.reauthenticate``).
"""

from __future__ import annotations

from dataclasses import asdict

from flask import request
from flask_login import current_user
from marshmallow import Schema, fields

from api.auth import blp
from api.auth.login import LoginAnswerSchema
from api.credentials.scopes import ACCOUNT
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.webauthn import (
    EXAMPLE_ASSERTION,
    EXAMPLE_STATE,
    AuthenticationCredentialSchema,
    CeremonySchema,
    state_field,
)
from api.security import dpop, requires
from api.services import authentication, passkey_login


class PasskeyLoginSchema(Schema):
    state = state_field(required=True)
    credential = fields.Nested(AuthenticationCredentialSchema, required=True)
    json_schema_example = {"state": EXAMPLE_STATE, "credential": EXAMPLE_ASSERTION}


@blp.route("/login/passkey/options", methods=["POST"])
@blp.response(200, CeremonySchema)
def start_passkey_login():
    """Start a passwordless login: request options for `navigator.credentials.get()`.

    They name no account (a discoverable passkey says whose it is) and are the same for
    everyone but their challenge. Send the assertion (its `toJSON()`) with the `state` to
    `POST /login/passkey`.
    """
    return asdict(passkey_login.login_options())


@blp.route("/login/passkey", methods=["POST"])
@raises(401, 429)
@blp.arguments(PasskeyLoginSchema)
@blp.response(200, LoginAnswerSchema)
def login_with_passkey(body):
    """Log in with a passkey: no password and no TOTP code (a passkey is multi-factor).

    Every kind of refusal (state, origin, RP id, challenge, signature, user verification,
    counter, an unknown or removed passkey) is the same 401 and a failed attempt. With a
    `DPoP` proof the session is bound to its key; a refused proof (400) spends no state.
    """
    key = dpop.token_endpoint_key(request, new_credential=True)
    pair = passkey_login.login(
        body["state"], body["credential"], origin=request_origin(), dpop_jkt=key
    )
    return {**asdict(pair), "device_token": authentication.device_token(pair.user_id)}


@blp.route("/reauthenticate/passkey/options", methods=["POST"])
@requires(ACCOUNT)
@blp.response(200, CeremonySchema)
def start_passkey_reauthentication():
    """Start proving yourself again with a passkey: request options naming your passkeys.

    Send the assertion with the `state` to `POST /reauthenticate` (instead of the password).
    """
    return asdict(passkey_login.reauthentication_options(current_user.id))
