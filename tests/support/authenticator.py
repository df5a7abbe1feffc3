"""A software authenticator: makes WebAuthn registration and assertion responses, as a
browser's ``credential.toJSON()`` writes them, with a knob for every bad case.

The responses are built by the README's software passkey (``examples/software_passkey.py``,
loaded from its file: ``examples/`` is no package): ES256 keys from ``cryptography``, CBOR
through ``cbor2`` (the package py_webauthn itself uses), attestation ``none`` as the server
asks. This class adds what a test turns: a counter, flags, and every field a refusal needs.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from . import ROOT


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


core = _load_example("software_passkey")
ORIGIN = core.ORIGIN
RP_ID = "localhost"
UP, UV, BE, BS, AT = core.UP, core.UV, core.BE, core.BS, core.AT
b64url, unb64url = core.b64url, core.unb64url


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
        return core.cose_key(self.key.public_key())

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
        client_data = core.client_data(ceremony, challenge or options["challenge"], origin)
        auth_data = core.authenticator_data(
            rp_id or options["rp"]["id"],
            self._flags(user_verified, True) | AT,
            self.counter or 0,
            (self.credential_id, self.cose_key()),
        )
        return core.registration(self.credential_id, client_data, auth_data)

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
        client_data = core.client_data(ceremony, challenge or options["challenge"], origin)
        flags = self._flags(user_verified, user_present)
        auth_data = core.authenticator_data(rp_id or options["rpId"], flags, sent_count)
        signer = ec.generate_private_key(ec.SECP256R1()) if forge_signature else self.key
        return core.assertion(
            signer, self.credential_id, user_handle or self.user_handle, client_data, auth_data
        )


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
