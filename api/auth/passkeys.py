"""``/passkeys``: the caller's passkeys (WebAuthn credentials), registered, listed, renamed
and removed.

Managing them needs the ``account`` scope, which only session tokens carry. Starting a
registration and removing a passkey need a fresh login.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import url_for
from flask_login import current_user
from marshmallow import Schema, fields, validate

from api.auth import blp
from api.credentials.scopes import ACCOUNT
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.pagination import PaginationSchema, page_of
from api.http.webauthn import (
    EXAMPLE_REGISTRATION,
    EXAMPLE_STATE,
    CeremonySchema,
    RegistrationCredentialSchema,
    state_field,
)
from api.security import requires
from api.services import passkeys

PASSKEY_NAME = "Laptop"


class PasskeySchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)
    backed_up = fields.Boolean(
        required=True,
        metadata={"description": "Whether the passkey is synced (backed up) beyond one device."},
    )
    transports = fields.List(fields.String(), required=True, attribute="transport_list")
    disabled_at = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={
            "description": "When a signature counter that did not go up (a cloned "
            "authenticator?) disabled it: it logs no one in; remove it and register again."
        },
    )


class NewPasskeySchema(Schema):
    state = state_field(required=True)
    credential = fields.Nested(RegistrationCredentialSchema, required=True)
    name = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Default: `Passkey` and today's date.", "example": PASSKEY_NAME},
    )
    json_schema_example = {
        "state": EXAMPLE_STATE,
        "credential": EXAMPLE_REGISTRATION,
        "name": PASSKEY_NAME,
    }


class PasskeyNameSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"example": PASSKEY_NAME},
    )


PasskeyPageSchema = page_of(PasskeySchema)


@blp.route("/passkeys/register/options", methods=["POST"])
@requires(ACCOUNT, fresh=True)
@blp.response(200, CeremonySchema)
def start_passkey_registration():
    """Start registering a passkey: creation options for `navigator.credentials.create()`.

    Send the credential it makes (its `toJSON()`) with the `state` to `POST /passkeys`.
    """
    return asdict(passkeys.registration_options(current_user.id))


@blp.route("/passkeys", methods=["POST"])
@requires(ACCOUNT)
@raises(409)
@blp.arguments(NewPasskeySchema)
@blp.response(201, PasskeySchema)
def register_passkey(body):
    """Register the passkey an authenticator made for the options of this user's `state`.

    A refused state or credential is 422; a credential already registered, by anyone, 409.
    """
    record = passkeys.register(
        current_user.id,
        current_user.session_id,
        body["state"],
        body["credential"],
        body.get("name"),
        origin=request_origin(current_user),
    )
    return record, 201, {"Location": url_for("auth.get_passkey", passkey_id=record.id)}


@blp.route("/passkeys", methods=["GET"])
@requires(ACCOUNT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, PasskeyPageSchema)
def list_passkeys(pagination):
    """List the caller's passkeys, newest first; never key material."""
    return passkeys.list_passkeys(current_user.id, pagination["page"], pagination["per_page"])


@blp.route("/passkeys/<id:passkey_id>", methods=["GET"])
@requires(ACCOUNT)
@blp.response(200, PasskeySchema)
def get_passkey(passkey_id):
    """Return one of the caller's passkeys."""
    return passkeys.get_passkey(current_user.id, passkey_id)


@blp.route("/passkeys/<id:passkey_id>", methods=["PATCH"])
@requires(ACCOUNT)
@blp.arguments(PasskeyNameSchema)
@blp.response(200, PasskeySchema)
def rename_passkey(body, passkey_id):
    """Rename one of the caller's passkeys."""
    return passkeys.rename_passkey(
        current_user.id, passkey_id, body["name"], origin=request_origin(current_user)
    )


@blp.route("/passkeys/<id:passkey_id>", methods=["DELETE"])
@requires(ACCOUNT, fresh=True)
@blp.response(204)
def delete_passkey(passkey_id):
    """Remove one of the caller's passkeys: it logs no one in from now on."""
    passkeys.delete_passkey(
        current_user.id,
        passkey_id,
        origin=request_origin(current_user),
        session_id=current_user.session_id,
    )
