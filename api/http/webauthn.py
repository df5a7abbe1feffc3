"""WebAuthn Level 3's JSON shapes, as the passkey views take and answer them.

A browser's ``credential.toJSON()`` (or a mobile SDK's equivalent) is sent as it is, and the
options answered are what ``PublicKeyCredential.parseCreationOptionsFromJSON`` and
``parseRequestOptionsFromJSON`` take. Field names are WebAuthn's own (``rawId``,
``clientDataJSON``), so these schemas are built from dicts. Binary values are base64url
strings; what they hold is the relying party's library's to check (``credentials.passkeys``).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

# A credential id is at most 1023 bytes: 1364 base64url characters.
CREDENTIAL_ID_LENGTH = 1364
# Far above any real authenticator's data or attestation, far below the body limit.
BLOB_LENGTH = 65536
STATE_DESCRIPTION = (
    "The `state` of the options answer: signed, single-use, valid for `WEBAUTHN_TIMEOUT` "
    "seconds, bound to its ceremony (and user)."
)

# Bodies as the docs show them: the shapes a browser sends, made by no real authenticator.
EXAMPLE_STATE = "pks.1a2b3c4d.eyJwIjoibG9naW4ifQ.aP0rQw.c2lnbmF0dXJlLW9mLXRoZS1zdGF0ZQ"
EXAMPLE_REGISTRATION = {
    "id": "KEbWNCc7NgaYnUyrNeFGX9_3Y-8oJ3KwzjnaiD1d1LU",
    "rawId": "KEbWNCc7NgaYnUyrNeFGX9_3Y-8oJ3KwzjnaiD1d1LU",
    "type": "public-key",
    "response": {
        "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0",
        "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVkBZw",
        "transports": ["internal", "hybrid"],
    },
    "authenticatorAttachment": "platform",
    "clientExtensionResults": {},
}
EXAMPLE_ASSERTION = {
    "id": "KEbWNCc7NgaYnUyrNeFGX9_3Y-8oJ3KwzjnaiD1d1LU",
    "rawId": "KEbWNCc7NgaYnUyrNeFGX9_3Y-8oJ3KwzjnaiD1d1LU",
    "type": "public-key",
    "response": {
        "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
        "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
        "signature": "MEUCIQCo8y1t7zW8a4Q2aTn0MEUCIQCo8y1t7zW8a4Q2aTn0",
        "userHandle": "V1pZcVVXbDNaVVpQYlRGVFdXeE9jMWRYZEd0TmJVWnk",
    },
    "authenticatorAttachment": "platform",
    "clientExtensionResults": {},
}


def base64url(length: int = BLOB_LENGTH, **kwargs) -> fields.String:
    """A base64url string (no padding) of at most ``length`` characters."""
    return fields.String(
        validate=[validate.Regexp(r"^[A-Za-z0-9_-]*$"), validate.Length(max=length)], **kwargs
    )


def _credential(name: str, response: type[Schema]) -> type[Schema]:
    return Schema.from_dict(
        {
            "id": base64url(CREDENTIAL_ID_LENGTH, required=True),
            "rawId": base64url(CREDENTIAL_ID_LENGTH, required=True),
            "type": fields.String(required=True, validate=validate.OneOf(["public-key"])),
            "response": fields.Nested(response, required=True),
            "authenticatorAttachment": fields.String(
                allow_none=True, validate=validate.OneOf(["platform", "cross-platform"])
            ),
            "clientExtensionResults": fields.Dict(keys=fields.String(), values=fields.Raw()),
        },
        name=name,
    )


AttestationResponseSchema = Schema.from_dict(
    {
        "clientDataJSON": base64url(required=True),
        "attestationObject": base64url(required=True),
        "authenticatorData": base64url(),
        "transports": fields.List(
            fields.String(validate=validate.Length(max=32)), validate=validate.Length(max=16)
        ),
        "publicKey": base64url(allow_none=True),
        "publicKeyAlgorithm": fields.Integer(strict=True),
    },
    name="AuthenticatorAttestationResponseJSON",
)
AssertionResponseSchema = Schema.from_dict(
    {
        "clientDataJSON": base64url(required=True),
        "authenticatorData": base64url(required=True),
        "signature": base64url(required=True),
        "userHandle": base64url(allow_none=True),
        "attestationObject": base64url(allow_none=True),
    },
    name="AuthenticatorAssertionResponseJSON",
)
# What ``navigator.credentials.create()`` and ``.get()`` make, as their ``toJSON()`` writes it.
RegistrationCredentialSchema = _credential("RegistrationResponseJSON", AttestationResponseSchema)
AuthenticationCredentialSchema = _credential("AuthenticationResponseJSON", AssertionResponseSchema)


def state_field(**kwargs) -> fields.String:
    """The ``state`` a ceremony's options came with, sent back with the credential."""
    return fields.String(
        validate=validate.Length(min=1, max=4096),
        metadata={"description": STATE_DESCRIPTION},
        **kwargs,
    )


class CeremonySchema(Schema):
    """The start of a passkey ceremony."""

    state = state_field(required=True)
    options = fields.Dict(
        required=True,
        metadata={
            "description": (
                "The bare WebAuthn options JSON: pass it to "
                "`PublicKeyCredential.parseCreationOptionsFromJSON` (registration) or "
                "`parseRequestOptionsFromJSON` (login, reauthentication)."
            )
        },
    )
