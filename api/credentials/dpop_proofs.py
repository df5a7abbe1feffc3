"""DPoP proofs (RFC 9449): the JWT a client signs with its own key for each request.

``check`` makes every check of RFC 9449 section 4.3 that needs no stored state, in the
section's order, and answers the proof's key thumbprint (RFC 7638) and its ``jti``; whether that
``jti`` was seen before is ``jti_replay``'s question, asked last. Nothing here reads a request
or the database: the caller hands over the header's text, the method, the URL the client used
and the clock, so a refused proof costs no statement.

The JWS and JWK work is joserfc's; this module only decides what a proof must say. Only the
asymmetric algorithms of ``ALGORITHMS`` are accepted (``EdDSA`` also under its RFC 9864 name
``Ed25519``), never ``none`` nor an HMAC, and the ``jwk`` must be a public key.
"""

from __future__ import annotations

import hashlib
import json
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from joserfc import jwk, jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

TYPE = "dpop+jwt"
# The order the challenge lists them in (RFC 9449 section 7.1's ``algs``).
ALGORITHMS = ("ES256", "EdDSA", "Ed25519", "RS256", "PS256")
# An RSA key shorter than this is refused (NIST SP 800-131A): its signature proves too little.
MIN_RSA_BITS = 2048
# A proof carrying a 4096-bit RSA key is about 2,000 characters; anything much longer is refused
# before it is decoded.
MAX_PROOF_LENGTH = 8192
# joserfc refuses a protected header over 512 bytes by default: an RS256 or PS256 proof carries
# its whole public key there, 2048 bits and more.
MAX_HEADER_BYTES = 4096
MAX_JTI_LENGTH = 256
# Seconds a proof may come from the future, or be older than the allowed age: clock skew
# between a client and the servers.
LEEWAY = 5
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Members that only a private (or symmetric) key has (RFC 7518 section 6).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_TYPES = {"ES256": "EC", "EdDSA": "OKP", "Ed25519": "OKP", "RS256": "RSA", "PS256": "RSA"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = re.compile(r"%(2[DdEe]|3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|5[Ff]|7[Ee])")


class ProofError(Exception):
    """A proof was refused; ``reason`` names the check and is safe to show to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Proof:
    """What a proof that passed every check proves: the key (``jkt``, its RFC 7638 SHA-256
    thumbprint) and the ``jti`` to be seen only once, until ``expires_at`` (seconds since the
    epoch), after which the ``iat`` check refuses the proof anyway."""

    jkt: str
    jti: str
    expires_at: float


class _ProofRegistry(JWSRegistry):
    """joserfc's registry for proofs: the allow-list alone decides the algorithm (EdDSA, which
    joserfc calls deprecated in favour of ``Ed25519``, is accepted under both names), and a
    header may hold an RSA key."""

    max_header_length = MAX_HEADER_BYTES

    def get_alg(self, name: str) -> Any:
        if name not in ALGORITHMS:
            raise ProofError("DPoP proof alg not allowed")
        return self.algorithms[name]


_REGISTRY = _ProofRegistry(algorithms=ALGORITHMS, strict_check_header=False)


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a proof sent with ``access_token``: its SHA-256, base64url, unpadded."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check(
    header: str,
    method: str,
    url: str,
    now: float,
    max_age: int,
    access_token: str | None = None,
    *,
    ath_required: bool = True,
) -> Proof:
    """Check the proof ``header`` (the ``DPoP`` field's value, repeated fields joined with
    commas) for a ``method`` request to ``url``; raise ``ProofError`` for the first check it
    fails, in RFC 9449 section 4.3's order.

    With ``access_token`` (a resource request) the proof must carry its hash as ``ath``; unless
    not ``ath_required`` (``POST /tokens`` with a bearer token), when an ``ath`` is checked if
    the proof has one.
    """
    value = _one_jwt(header)
    signed = _extract(value)
    protected = signed.headers()
    claims = _claims(signed.payload)
    _required(protected, claims, access_token is not None and ath_required)
    if protected["typ"] != TYPE:
        raise ProofError("DPoP proof typ is not dpop+jwt")
    algorithm = protected["alg"]
    if algorithm not in ALGORITHMS:
        raise ProofError("DPoP proof alg not allowed")
    key = _public_key(protected["jwk"], algorithm)
    _verify(signed, key)
    if claims["htm"] != method:
        raise ProofError("DPoP proof htm does not match the method")
    if _normal_url(claims["htu"]) != _normal_url(url):
        raise ProofError("DPoP proof htu does not match the URL")
    _check_age(claims["iat"], now, max_age)
    if (
        access_token is not None
        and "ath" in claims
        and claims["ath"] != access_token_hash(access_token)
    ):
        raise ProofError("DPoP proof ath does not match the access token")
    return Proof(key.thumbprint(), claims["jti"], claims["iat"] + max_age + LEEWAY)


def _one_jwt(header: str) -> str:
    """Steps 1 and 2: one ``DPoP`` field holding one JWT in compact form."""
    if "," in header:  # a JWT holds no comma: two fields, joined by the server
        raise ProofError("more than one DPoP header")
    value = header.strip()
    if len(value) > MAX_PROOF_LENGTH or _COMPACT.fullmatch(value) is None:
        raise ProofError("DPoP proof is not a JWT")
    return value


def _extract(value: str) -> Any:
    try:
        return jws.extract_compact(value.encode("ascii"), registry=_REGISTRY)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise ProofError("DPoP proof is not a JWT") from None


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeError):
        raise ProofError("DPoP proof is not a JWT") from None
    if not isinstance(claims, dict):
        raise ProofError("DPoP proof is not a JWT")
    return claims


def _required(protected: dict[str, Any], claims: dict[str, Any], with_token: bool) -> None:
    """Step 3: every header parameter and claim of section 4.2, each of its type."""
    for name in ("typ", "alg"):
        if not isinstance(protected.get(name), str):
            raise ProofError(f"DPoP proof has no {name}")
    if not isinstance(protected.get("jwk"), dict):
        raise ProofError("DPoP proof has no jwk")
    for name in ("jti", "htm", "htu") + (("ath",) if with_token else ()):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise ProofError(f"DPoP proof has no {name}")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or iat != iat:
        raise ProofError("DPoP proof has no iat")
    if len(claims["jti"]) > MAX_JTI_LENGTH:
        raise ProofError("DPoP proof jti is too long")


def _public_key(members: dict[str, Any], algorithm: str) -> Any:
    """Steps 5 and 7: a public key of the algorithm's type; never private key material."""
    if members.keys() & _PRIVATE_MEMBERS:
        raise ProofError("DPoP proof jwk is not a public key")
    if members.get("kty") != _KEY_TYPES[algorithm]:
        raise ProofError("DPoP proof jwk does not fit its alg")
    if members["kty"] == "RSA" and _modulus_bits(members.get("n")) < MIN_RSA_BITS:
        raise ProofError("DPoP proof jwk is too small a key")
    try:
        key = jwk.import_key(members)
    except (JoseError, ValueError, TypeError, KeyError):
        raise ProofError("DPoP proof jwk is not a valid key") from None
    if key.is_private:
        raise ProofError("DPoP proof jwk is not a public key")
    return key


def _modulus_bits(n: Any) -> int:
    """The size of an RSA key's modulus ``n`` (base64url), before the key is built."""
    if not isinstance(n, str) or len(n) > MAX_HEADER_BYTES:
        return 0
    try:
        modulus = urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except ValueError:
        return 0
    return int.from_bytes(modulus, "big").bit_length()


def _verify(signed: Any, key: Any) -> None:
    """Step 6: the signature, with the key the proof carries."""
    try:
        valid = jws.validate_compact(signed, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise ProofError("DPoP proof signature is invalid")


def _check_age(iat: float, now: float, max_age: int) -> None:
    """Step 11: made at most ``max_age`` seconds ago, and not in the future (both with
    ``LEEWAY``)."""
    if iat > now + LEEWAY:
        raise ProofError("DPoP proof iat is in the future")
    if iat < now - max_age - LEEWAY:
        raise ProofError("DPoP proof is too old")


def _normal_url(url: str) -> tuple[str, str, str] | None:
    """The URL without query and fragment, normalised as RFC 3986 sections 6.2.2 and 6.2.3 say
    (scheme and host without case, default port dropped, an empty path as ``/``, percent-encoding
    in upper case and unreserved characters decoded); None for a URL that cannot be one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    host = parts.hostname.lower()
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    elif ":" in host:
        host = f"[{host}]"
    path = _UNRESERVED.sub(lambda match: unquote(match.group(0)), parts.path or "/")
    path = re.sub(r"%[0-9a-f]{2}", lambda match: match.group(0).upper(), path)
    return scheme, host, path
