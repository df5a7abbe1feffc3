"""The email address field: the rule of ``credentials.addresses``, as a 422 and in the document.

A plain ``String`` with a validator, so schemas holding it still dump on the fast path
(``dumping``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from api.credentials import addresses

EXAMPLE = "alice@example.com"


def _one_address(value: str) -> None:
    if addresses.normalize_address(value) is None:
        raise ValidationError(addresses.FIELD_MESSAGE)


def EmailAddress(**kwargs: Any) -> fields.String:
    """Return a field for one address, checked strictly (no display name, no CR/LF, no
    second address)."""
    metadata = {
        "format": "email",
        "maxLength": addresses.MAX_LENGTH,
        "example": EXAMPLE,
        **kwargs.pop("metadata", {}),
    }
    return fields.String(validate=_one_address, metadata=metadata, **kwargs)
