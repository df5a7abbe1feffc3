"""DPoP binding (RFC 9449): what is bound to a key goes on only with a proof of that key.

A bound session's refresh, and the second step of a login whose first step carried a proof,
must come with a proof of the same key; anything else is refused with 400
``invalid_dpop_proof`` before anything is spent. The proof itself was checked at the edge: use
cases see only its key's thumbprint.
"""

from __future__ import annotations

from api.errors import InvalidDpopProof

NO_PROOF = "DPoP proof missing: the token is bound to a DPoP key"
OTHER_KEY = "DPoP proof of another key"


def require_same_key(bound_jkt: str | None, jkt: str | None) -> None:
    """Refuse unless ``jkt`` (the request's proof's key, None without one) is the key
    ``bound_jkt`` names; anything goes when it names none."""
    if bound_jkt is not None and jkt != bound_jkt:
        raise InvalidDpopProof(NO_PROOF if jkt is None else OTHER_KEY)
