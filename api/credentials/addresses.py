"""What an email address may be, said once: the API's 422, the CLI's error, the service's check.

Strict on purpose: one plain ``local@domain`` address, ASCII, at most 254 characters (RFC 5321's
path limit less its brackets), a dot-atom local part of at most 64 characters and a domain of
DNS labels with at least one dot. No display name, no comment, no quoting, no space, no comma
and no control character: nothing that could add a header or a recipient to a mail
(CWE-93). Addresses are unique and compared without case: ``address_key`` is what they are
compared by.
"""

from __future__ import annotations

import re

MAX_LENGTH = 254
MAX_LOCAL_LENGTH = 64
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_SINGLE_LABEL = re.compile(_LABEL)
RULE = "one address such as name@example.com, at most 254 characters"
FIELD_MESSAGE = f"Must be {RULE}."
DETAIL = f"email must be {RULE}"


def normalize_address(text: str) -> str | None:
    """Return ``text`` if it is one acceptable address (as written), else None."""
    return text if _acceptable(text, _DOMAIN) else None


def is_sender_address(text: str) -> bool:
    """Tell whether ``text`` may be the sender's address: as a recipient's, or on a host
    with a one-label name (``no-reply@localhost``, the default)."""
    return _acceptable(text, _DOMAIN) or _acceptable(text, _SINGLE_LABEL)


def address_key(address: str) -> str:
    """Return the key an address is unique and found by: itself without case."""
    return address.lower()


def _acceptable(text: str, domain_form: re.Pattern[str]) -> bool:
    if not isinstance(text, str) or len(text) > MAX_LENGTH or not text.isascii():
        return False
    local, at, domain = text.rpartition("@")
    return (
        bool(at)
        and len(local) <= MAX_LOCAL_LENGTH
        and _LOCAL.fullmatch(local) is not None
        and domain_form.fullmatch(domain) is not None
    )
