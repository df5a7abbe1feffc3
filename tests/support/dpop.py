"""A DPoP client for the tests: a key pair that signs proofs (RFC 9449), made as a client would.

``DpopKey.proof`` signs a proof for one request; each of its arguments can be changed, or a
header or claim dropped (``drop``), so that a test can break exactly one rule of section 4.3.
"""

from __future__ import annotations

import json
import secrets
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwk, jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from api.credentials.dpop_proofs import access_token_hash

# The test client's requests reach the app as http://localhost/<path>.
BASE = "http://localhost"
_KEYS = {
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
    "RS256": ("RSA", 2048),
    "PS256": ("RSA", 2048),
    "HS256": ("oct", 256),
}


class _Signing(JWSRegistry):
    """joserfc's registry with any algorithm and a header big enough for an RSA key: the
    tests sign what a hostile client would too."""

    max_header_length = 8192

    def get_alg(self, name: str) -> Any:
        return self.algorithms[name]


_SIGNING = _Signing(strict_check_header=False)


@dataclass
class DpopKey:
    """A client's key pair and the proofs it signs."""

    alg: str = "ES256"
    key: Any = field(default=None)

    def __post_init__(self) -> None:
        if self.key is None:
            key_type, size = _KEYS[self.alg]
            self.key = jwk.generate_key(key_type, size)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return self.key.as_dict(private=False)

    @property
    def thumbprint(self) -> str:
        return self.key.thumbprint()

    def proof(
        self,
        method: str,
        path_or_url: str,
        access_token: str | None = None,
        *,
        iat: float | None = None,
        jti: str | None = None,
        typ: str = "dpop+jwt",
        alg: str | None = None,
        header_jwk: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        ath: str | None = None,
        **claims: Any,
    ) -> str:
        """Sign a proof for a ``method`` request to ``path_or_url`` (a path is on ``BASE``)."""
        url = path_or_url if "://" in path_or_url else BASE + path_or_url
        header = {"typ": typ, "alg": alg or self.alg, "jwk": header_jwk or self.public_jwk}
        payload: dict[str, Any] = {
            "jti": jti or secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if access_token is not None:
            payload["ath"] = access_token_hash(access_token)
        if ath is not None:
            payload["ath"] = ath
        payload.update(claims)
        for name in drop:
            header.pop(name, None)
            payload.pop(name, None)
        return sign(header, payload, self.key)


def sign(header: dict[str, Any], payload: dict[str, Any], key: Any) -> str:
    """A compact JWS of ``payload`` signed with ``key``, whatever ``header`` says."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _SIGNING.algorithms or alg == "none":
        return unsigned(header, payload, b"not signed")
    try:
        return jws.serialize_compact(header, json.dumps(payload), key, registry=_SIGNING)
    except (JoseError, ValueError, TypeError):  # a header joserfc will not sign: sent anyway
        return unsigned(header, payload, b"not signed")


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with any header and payload and the given signature bytes."""
    return ".".join(
        _b64(part)
        for part in (json.dumps(header).encode(), json.dumps(payload).encode(), signature)
    )


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def dpop_headers(access_token: str, proof: str) -> dict[str, str]:
    """The headers of a resource request with a bound access token."""
    return {"Authorization": f"DPoP {access_token}", "DPoP": proof}
