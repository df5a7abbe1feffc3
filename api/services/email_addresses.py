"""Addresses on accounts: checked, unique without case, and verified by their owner.

An address set by anyone but its owner's proof (an administrator, a change asked for) counts as
unverified until a link mailed to it is followed (``POST /email/verify``).
"""

from __future__ import annotations

from sqlalchemy import select

from api.credentials import addresses, signed_tokens
from api.database import db
from api.errors import Conflict, Invalid
from api.models import User
from api.services import mail_messages, mail_tickets

TAKEN = "email address is taken"


def checked_address(email: str) -> str:
    """Return ``email`` if it is one acceptable address; raise Invalid (422) if not."""
    address = addresses.normalize_address(email)
    if address is None:
        raise Invalid(addresses.DETAIL, {"email": [addresses.FIELD_MESSAGE]})
    return address


def owner_of(address: str) -> User | None:
    """Return the account whose address is ``address`` (whatever its case), or None."""
    key = addresses.address_key(address)
    return db.session.scalar(select(User).where(User.email_key == key))


def set_address(user: User, email: str | None) -> None:
    """Give ``user`` the address ``email`` (None: no address), unverified, and mail it a
    verification link; in the caller's transaction. A taken address is Conflict (409)."""
    if email is None:
        user.email = user.email_key = None
        user.email_verified = False
        return
    address = checked_address(email)
    key = addresses.address_key(address)
    holder = owner_of(address)
    if holder is not None and holder.id != user.id:
        raise Conflict(TAKEN)
    user.email, user.email_key, user.email_verified = address, key, False
    mail_verification(user.id, address)


def mail_verification(user_id: int, address: str) -> None:
    """Mail ``address`` a link that proves it for ``user_id``'s account."""
    token = mail_tickets.issue(signed_tokens.VERIFY_EMAIL, user_id=user_id, email=address)
    mail_messages.mail_address_verification(address, token)
