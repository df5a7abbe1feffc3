"""Variants of a valid access token that the request loader must refuse before any query,
and tokens signed with the real key whose claims no server would make."""

from __future__ import annotations

from typing import Any

from itsdangerous import URLSafeTimedSerializer

from api.credentials import signed_tokens


def forged_signature(token: str) -> str:
    """Return ``token`` with a signature its key never made."""
    kind, kid, signed = token.split(".", 2)
    # Flip the signature's first character: its last one carries padding bits, and a change
    # there can decode to the very same signature.
    payload, signature = signed.rsplit(".", 1)
    return f"{kind}.{kid}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def unknown_key(token: str) -> str:
    """Return ``token`` naming a signing key id that no app has."""
    kind, _, signed = token.split(".", 2)
    return f"{kind}.00000000.{signed}"


def signed_with_the_real_key(secret: str, kind: str, payload: Any) -> str:
    """Return a token of ``kind`` carrying ``payload``, signed as the app that holds ``secret``
    signs: what only a holder of the key (or a bug) could make, with claims of any shape.

    Written as ASCII JSON, so a string may hold what UTF-8 cannot (a lone surrogate, escaped).
    """
    serializer = URLSafeTimedSerializer(
        secret, salt=signed_tokens.SALTS[kind], serializer_kwargs={"ensure_ascii": True}
    )
    return f"{kind}.{signed_tokens.key_id(secret)}.{serializer.dumps(payload)}"
