"""Invitations: an administrator asks an address to open an account (``POST /users/invite``,
``manage.py users invite``). The token proves the address, so the account opens at once."""

from __future__ import annotations

from api.audit_writer import audit
from api.credentials import addresses, mail_throttle, signed_tokens
from api.database import db
from api.errors import Conflict
from api.origin import Origin
from api.services import email_addresses, mail_messages, mail_tickets


def invite(email: str, is_admin: bool = False, *, origin: Origin) -> None:
    """Mail ``email`` an invitation; an address that has an account is Conflict (409): an
    administrator is no stranger."""
    address = email_addresses.checked_address(email)
    mail_throttle.count_mail_request(origin, addresses.address_key(address))
    if email_addresses.owner_of(address) is not None:
        raise Conflict(email_addresses.TAKEN)
    token = mail_tickets.issue(signed_tokens.INVITE, email=address, is_admin=is_admin)
    mail_messages.mail_invitation(address, token)
    audit("user_invited", origin=origin, is_admin=is_admin)
    db.session.commit()
