"""Changing one's address: asked with a fresh login (``POST /email``), done with the new
address's proof (``POST /email/verify``, which also verifies an address an administrator set).

The old verified address is told at once, with a link that secures the account. An address
another account has answers the same, and its mailbox gets a note instead of a link.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from api.audit_writer import audit
from api.credentials import addresses, mail_throttle, signed_tokens
from api.database import db
from api.errors import Conflict
from api.models import User
from api.origin import Origin
from api.services import email_addresses, mail_messages, mail_tickets, notices


def request_change(user_id: int, email: str, *, origin: Origin) -> None:
    """Mail the new address a verification link (or a note, if taken) and the old verified
    one a notice; the caller answers the same either way."""
    address = email_addresses.checked_address(email)
    mail_throttle.count_mail_request(origin, addresses.address_key(address))
    holder = email_addresses.owner_of(address)
    if holder is not None and holder.id != user_id:
        mail_messages.mail_address_taken(address)
        outcome = "address_taken"
    else:
        email_addresses.mail_verification(user_id, address)
        outcome = "success"
    notices.notify(user_id, "email_changed", origin)
    audit("email_change_requested", outcome, origin=origin, user_id=user_id)
    db.session.commit()


def verify_address(token: str, *, origin: Origin) -> None:
    """Make the address a verification token names the account's, verified."""
    ticket = mail_tickets.open_ticket(signed_tokens.VERIFY_EMAIL, token)
    user_id, address = ticket.user_id, ticket.email
    mail_tickets.spend(ticket)
    user = db.session.get(User, user_id)
    if user is None:
        raise mail_tickets.BadMailToken(mail_tickets.SPENT)
    holder = email_addresses.owner_of(address)
    if holder is not None and holder.id != user_id:
        db.session.rollback()
        raise Conflict(email_addresses.TAKEN)
    changed = user.email_key != addresses.address_key(address)
    user.email, user.email_key = address, addresses.address_key(address)
    user.email_verified = True
    audit("email_verified", origin=origin, user_id=user_id, changed=changed)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(email_addresses.TAKEN) from None
