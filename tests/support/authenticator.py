"""A software authenticator: makes WebAuthn registration and assertion responses, as a
browser's ``credential.toJSON()`` writes them, with a knob for every bad case.

ES256 keys from ``cryptography``; the authenticator data and the attestation object in CBOR
through ``cbor2`` (the package py_webauthn itself uses). Attestation ``none``, as the server
asks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://localhost:5000"
RP_ID = "localhost"
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Authenticator:
    """One passkey held by a software authenticator: its key, id, user handle and counter.

    ``counter`` None keeps no counter (always 0, as synced passkeys do); a number goes up by
    one with each assertion.
    """

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: str | None = None
    counter: int | None = None
    backed_up: bool = False

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, rp_id: str, flags: int, count: int, attested: bool) -> bytes:
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count)
        if attested:
            aaguid = bytes(16)
            data += aaguid + struct.pack(">H", len(self.credential_id)) + self.credential_id
            data += self.cose_key()
        return data

    def _flags(self, user_verified: bool, user_present: bool) -> int:
        flags = (UP if user_present else 0) | (UV if user_verified else 0) | BE
        return flags | (BS if self.backed_up else 0)

    def register(
        self,
        options: dict[str, Any],
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        ceremony: str = "webauthn.create",
    ) -> dict[str, Any]:
        """Answer creation options: the new credential, as ``toJSON()`` writes it."""
        self.user_handle = options["user"]["id"]
        client_data = _client_data(ceremony, challenge or options["challenge"], origin)
        flags = self._flags(user_verified, True) | AT
        auth_data = self._auth_data(
            rp_id or options["rp"]["id"], flags, self.counter or 0, attested=True
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def assert_(
        self,
        options: dict[str, Any],
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        user_present: bool = True,
        count: int | None = None,
        forge_signature: bool = False,
        user_handle: str | None = None,
        ceremony: str = "webauthn.get",
    ) -> dict[str, Any]:
        """Answer request options: an assertion, as ``toJSON()`` writes it.

        ``count`` sends that counter instead of the next one.
        """
        if count is None and self.counter is not None:
            self.counter += 1
        sent_count = count if count is not None else (self.counter or 0)
        client_data = _client_data(ceremony, challenge or options["challenge"], origin)
        flags = self._flags(user_verified, user_present)
        auth_data = self._auth_data(rp_id or options["rpId"], flags, sent_count, attested=False)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signer = ec.generate_private_key(ec.SECP256R1()) if forge_signature else self.key
        signature = signer.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": user_handle or self.user_handle,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }


def _client_data(ceremony: str, challenge: str, origin: str) -> bytes:
    return json.dumps(
        {"type": ceremony, "challenge": challenge, "origin": origin, "crossOrigin": False}
    ).encode()


def register_passkey(client, owner, authenticator: Authenticator, name: str | None = None, **knobs):
    """Register a passkey through the endpoints; return the answer of ``POST /passkeys``."""
    started = client.post("/passkeys/register/options", headers=owner.headers)
    assert started.status_code == 200, started.get_json()
    body = started.get_json()
    credential = authenticator.register(body["options"], **knobs)
    sent = {"state": body["state"], "credential": credential}
    if name is not None:
        sent["name"] = name
    return client.post("/passkeys", json=sent, headers=owner.headers)
