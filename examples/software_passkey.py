"""A software passkey, to try Tessera's passkey endpoints from a terminal, which has no
authenticator.

A stand-in for a real authenticator (a phone, a security key, a password manager), for trying
the API and never for protecting an account: its private key lies unencrypted in the file you
name, nothing asks for a touch or a PIN, and whoever reads the file holds the passkey.

    python examples/software_passkey.py create KEY_FILE < options.json   # a new passkey
    python examples/software_passkey.py get KEY_FILE < options.json      # an assertion

Each reads options on stdin, the server's ``{"state", "options"}`` answer or the bare options,
and prints one line of JSON shaped as a browser's ``credential.toJSON()``. It answers as a page
at ``--origin`` would, by default ``http://localhost:5000`` (``WEBAUTHN_ORIGINS``' default, not
where the server listens); the RP id is the options' (``localhost`` by default). ES256 keys
from ``cryptography``, CBOR from ``cbor2``: both come with py_webauthn. Attestation ``none``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://localhost:5000"
# Authenticator data flags: user present, user verified, backup eligible, backed up, attested.
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cose_key(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Return ``public_key`` as a COSE_Key: EC2, ES256, P-256."""
    numbers = public_key.public_numbers()
    return cbor2.dumps(
        {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    )


def authenticator_data(
    rp_id: str, flags: int, counter: int, attested: tuple[bytes, bytes] | None = None
) -> bytes:
    """Return the authenticator data; ``attested``, at registration, is the new credential's
    id and COSE key (with an all-zero AAGUID, as attestation ``none`` allows)."""
    data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", counter)
    if attested is not None:
        credential_id, public_key = attested
        data += bytes(16) + struct.pack(">H", len(credential_id)) + credential_id + public_key
    return data


def client_data(ceremony: str, challenge: str, origin: str) -> bytes:
    """Return the client data JSON a browser would make (``webauthn.create`` or ``.get``)."""
    fields = {"type": ceremony, "challenge": challenge, "origin": origin, "crossOrigin": False}
    return json.dumps(fields).encode()


def registration(credential_id: bytes, client_data_json: bytes, auth_data: bytes) -> dict:
    """Return a new credential as ``toJSON()`` writes it, attestation ``none``."""
    attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
    response = {
        "clientDataJSON": b64url(client_data_json),
        "attestationObject": b64url(attestation),
        "transports": ["internal", "hybrid"],
    }
    return _credential(credential_id, response)


def assertion(
    signer: ec.EllipticCurvePrivateKey,
    credential_id: bytes,
    user_handle: str | None,
    client_data_json: bytes,
    auth_data: bytes,
) -> dict:
    """Return an assertion as ``toJSON()`` writes it, signed by ``signer``."""
    signed = auth_data + hashlib.sha256(client_data_json).digest()
    response = {
        "clientDataJSON": b64url(client_data_json),
        "authenticatorData": b64url(auth_data),
        "signature": b64url(signer.sign(signed, ECDSA_SHA256)),
        "userHandle": user_handle,
    }
    return _credential(credential_id, response)


def _credential(credential_id: bytes, response: dict) -> dict:
    return {
        "id": b64url(credential_id),
        "rawId": b64url(credential_id),
        "type": "public-key",
        "response": response,
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
    }


@dataclass(frozen=True)
class Passkey:
    """What the key file holds: the key, the credential id, and the RP and user it is for.
    It keeps no signature counter (always 0, as synced passkeys do), so the file never
    changes after ``create``."""

    key: ec.EllipticCurvePrivateKey
    credential_id: bytes
    rp_id: str
    user_handle: str

    def dumps(self) -> str:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fields = {"credential_id": b64url(self.credential_id), "rp_id": self.rp_id}
        return json.dumps({**fields, "user_handle": self.user_handle, "key": pem.decode()})

    @classmethod
    def loads(cls, text: str) -> Passkey:
        fields = json.loads(text)
        key = serialization.load_pem_private_key(fields["key"].encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the key file holds no EC key")
        return cls(key, unb64url(fields["credential_id"]), fields["rp_id"], fields["user_handle"])


def create(options: dict[str, Any], origin: str = ORIGIN) -> tuple[Passkey, dict]:
    """Make a passkey for creation ``options``: return it and the credential to send."""
    key = ec.generate_private_key(ec.SECP256R1())
    passkey = Passkey(key, secrets.token_bytes(32), options["rp"]["id"], options["user"]["id"])
    attested = (passkey.credential_id, cose_key(key.public_key()))
    auth_data = authenticator_data(passkey.rp_id, UP | UV | BE | AT, 0, attested)
    made = client_data("webauthn.create", options["challenge"], origin)
    return passkey, registration(passkey.credential_id, made, auth_data)


def get(passkey: Passkey, options: dict[str, Any], origin: str = ORIGIN) -> dict:
    """Answer request ``options`` with ``passkey``: return the assertion to send."""
    if options["rpId"] != passkey.rp_id:
        raise ValueError(f"the passkey is for {passkey.rp_id}, the options for {options['rpId']}")
    allowed = [unb64url(credential["id"]) for credential in options.get("allowCredentials", [])]
    if allowed and passkey.credential_id not in allowed:
        raise ValueError("the options allow other passkeys only")
    auth_data = authenticator_data(passkey.rp_id, UP | UV | BE, 0)
    made = client_data("webauthn.get", options["challenge"], origin)
    return assertion(passkey.key, passkey.credential_id, passkey.user_handle, made, auth_data)


def _options(text: str) -> dict[str, Any]:
    try:
        sent = json.loads(text)
    except ValueError as error:
        raise ValueError(f"stdin holds no JSON options ({error})") from None
    return sent.get("options", sent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["create", "get"])
    parser.add_argument("key_file", type=Path, help="the passkey's file (create: a new one)")
    parser.add_argument("--origin", default=ORIGIN, help=f"the page's origin (default {ORIGIN})")
    arguments = parser.parse_args(argv)
    try:
        if arguments.action == "create":
            passkey, credential = create(_options(sys.stdin.read()), arguments.origin)
            # A new file only, readable by its owner alone: never another passkey overwritten.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            with os.fdopen(os.open(arguments.key_file, flags, 0o600), "w") as kept:
                kept.write(passkey.dumps())
        else:
            passkey = Passkey.loads(arguments.key_file.read_text())
            credential = get(passkey, _options(sys.stdin.read()), arguments.origin)
    except KeyError as error:
        print(f"error: no {error} field in the JSON read", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(credential))
    return 0


if __name__ == "__main__":
    sys.exit(main())
