"""Variants of a valid access token that the request loader must refuse before any query."""

from __future__ import annotations


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
