"""Passkeys (WebAuthn): the relying party's options and checks, through py_webauthn.

Every check of a registration or an assertion (type, challenge, origin, RP id hash, user
presence and verification, algorithm, attestation, signature) is the library's; this module
chooses the options (user verification required, a discoverable credential, attestation
``none``, ES256, EdDSA and RS256) and turns the library's answers into plain values and its
refusals, whatever form they take, into one ``PasskeyRefused``. The JSON shapes in and out are
WebAuthn Level 3's, so a browser's ``parseCreationOptionsFromJSON`` and ``toJSON()`` pass them
through unchanged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

# ES256 first: what most authenticators make; then EdDSA and RS256 (Windows Hello).
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
CHALLENGE_BYTES = 32  # WebAuthn asks at least 16
USER_HANDLE_BYTES = 32


class PasskeyRefused(Exception):
    """A registration or an assertion failed a check; ``reason`` is for the audit trail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RelyingParty:
    """This server as WebAuthn sees it: its id (a domain), its name, the origins of the pages
    that may make and use its passkeys, and how long a ceremony may take (seconds)."""

    rp_id: str
    name: str
    origins: list[str]
    timeout: int


@dataclass(frozen=True)
class NewPasskey:
    """What a verified registration says about the new credential."""

    credential_id: str  # base64url
    public_key: bytes  # COSE_Key
    sign_count: int
    backed_up: bool
    transports: list[str]


@dataclass(frozen=True)
class Assertion:
    """What a verified assertion says: the authenticator's counter and backup state now."""

    sign_count: int
    backed_up: bool


def relying_party() -> RelyingParty:
    """Return the current app's relying party, from its configuration."""
    config = current_app.config
    return RelyingParty(
        config["WEBAUTHN_RP_ID"],
        config["WEBAUTHN_RP_NAME"],
        list(config["WEBAUTHN_ORIGINS"]),
        int(config["WEBAUTHN_TIMEOUT"]),
    )


def new_challenge() -> str:
    """Return a random challenge, base64url as the options carry it."""
    return bytes_to_base64url(secrets.token_bytes(CHALLENGE_BYTES))


def new_user_handle() -> str:
    """Return a random WebAuthn user handle, base64url: never a user's id, name or address."""
    return bytes_to_base64url(secrets.token_bytes(USER_HANDLE_BYTES))


def creation_options(
    party: RelyingParty,
    challenge: str,
    user_handle: str,
    username: str,
    registered: list[tuple[str, list[str]]],
) -> dict[str, Any]:
    """Return the creation options (Level 3 JSON) for a new discoverable passkey.

    ``registered`` are the user's passkeys (id and transports), so that an authenticator
    holding one already is not asked to make another.
    """
    options = generate_registration_options(
        rp_id=party.rp_id,
        rp_name=party.name,
        user_id=base64url_to_bytes(user_handle),
        user_name=username,
        user_display_name=username,
        challenge=base64url_to_bytes(challenge),
        timeout=party.timeout * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(registered),
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json_dict(options)


def request_options(
    party: RelyingParty, challenge: str, allowed: list[tuple[str, list[str]]]
) -> dict[str, Any]:
    """Return the request options (Level 3 JSON) for an assertion by one of ``allowed``, or,
    with none allowed, by any discoverable passkey: those name no account."""
    options = generate_authentication_options(
        rp_id=party.rp_id,
        challenge=base64url_to_bytes(challenge),
        timeout=party.timeout * 1000,
        allow_credentials=_descriptors(allowed),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def _descriptors(credentials: list[tuple[str, list[str]]]) -> list[PublicKeyCredentialDescriptor]:
    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(credential_id),
            transports=[AuthenticatorTransport(t) for t in transports if t in known] or None,
        )
        for credential_id, transports in credentials
    ]


def verify_registration(party: RelyingParty, credential: dict, challenge: str) -> NewPasskey:
    """Check a registration response (``credential.toJSON()``) made for ``challenge``."""
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=party.rp_id,
            expected_origin=party.origins,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    # Hostile bytes fail wherever the library's parsers (JSON, base64url, CBOR, COSE, ASN.1)
    # notice: every failure of a check is a refusal, never a crash.
    except Exception as error:
        raise PasskeyRefused(_reason(error)) from None
    transports = sorted({t.value for t in parsed.response.transports or ()})
    return NewPasskey(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        backed_up=verified.credential_backed_up,
        transports=transports,
    )


def verify_assertion(
    party: RelyingParty, credential: dict, challenge: str, public_key: bytes
) -> Assertion:
    """Check an assertion (``credential.toJSON()``) made for ``challenge`` by the passkey
    whose public key is ``public_key``.

    The counter is left to ``counter_went_up``: the library would compare it before the
    signature, and only a validly signed assertion proves a cloned authenticator (a forged one
    must not disable anyone's passkey).
    """
    try:
        verified = verify_authentication_response(
            credential=parse_authentication_credential_json(credential),
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=party.rp_id,
            expected_origin=party.origins,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except Exception as error:  # as in verify_registration: any failure is a refusal
        raise PasskeyRefused(_reason(error)) from None
    return Assertion(verified.new_sign_count, verified.credential_backed_up)


def counter_went_up(stored: int, asserted: int) -> bool:
    """Tell whether an assertion's counter is consistent with the one last seen: it went up,
    or the authenticator keeps none (both zero). WebAuthn L3 section 6.1.1."""
    return (stored == 0 and asserted == 0) or asserted > stored


def claimed_assertion(credential: dict) -> Assertion | None:
    """Return what an assertion's authenticator data claim (counter and backup state),
    UNVERIFIED, or None when they do not parse: so that the write they would make can go
    with the passkey's lookup, rolled back unless ``verify_assertion`` then passes."""
    response = credential.get("response")
    data = response.get("authenticatorData") if isinstance(response, dict) else None
    try:
        parsed = parse_authenticator_data(base64url_to_bytes(data))
    except Exception:  # hostile bytes, as in verify_assertion: no claim at all
        return None
    return Assertion(parsed.sign_count, parsed.flags.bs)


def user_handle_of(credential: dict) -> str | None:
    """Return the user handle an assertion names (base64url), or None."""
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    return handle or None


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:200]
