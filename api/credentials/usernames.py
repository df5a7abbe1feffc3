"""What a username may be, said once: the API's 422, the CLI's error and the service's check
all read it from here."""

from __future__ import annotations

import re
import unicodedata

# The characters and length the contract allows, as a JSON Schema pattern holds them.
PATTERN = r"[A-Za-z0-9._-]{3,64}"
RULE = "3 to 64 letters, digits, '.', '_' or '-'"
FIELD_MESSAGE = f"Must be {RULE}."
DETAIL = f"username must be {RULE}"
_USERNAME = re.compile(PATTERN)


def normalize_username(username: str) -> str | None:
    """Return ``username`` in canonical form (Unicode NFKC), or None if it cannot be one.

    Canonical first, so that a name typed with full-width letters is the same name.
    """
    username = unicodedata.normalize("NFKC", username)
    return username if _USERNAME.fullmatch(username) else None
