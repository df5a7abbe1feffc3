"""Signing up: with an invitation at once, or under ``SIGNUP_POLICY=open`` once the address
is proved. No account exists before its address is: a pending sign-up is a ticket holding the
name, the address and the password's hash, and ``POST /signup/verify`` makes the account.

Enumeration-safe: a taken username or address answers the same as a free one, after the same
work (one password hash, one lookup, a ticket and its signed token, one mail, the event); a
taken one's ticket is spent at once. Only the mailbox learns which.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.audit_writer import audit, clip
from api.credentials import addresses, mail_throttle, passwords, signed_tokens, usernames
from api.database import db
from api.errors import Conflict, Forbidden, Invalid
from api.models import User
from api.origin import Origin
from api.services import email_addresses, mail_messages, mail_tickets
from api.services.accounts import check_new_password, username_key

CLOSED = "sign-up is closed: ask an administrator for an invitation"
NAME_TAKEN = "username is taken: sign up again with another one"


def signup_allowed() -> bool:
    """Tell whether anyone may sign up without an invitation (``SIGNUP_POLICY=open``)."""
    return current_app.config["SIGNUP_POLICY"] == "open"


def request_signup(username: str, email: str, password: str, *, origin: Origin) -> None:
    """Mail ``email`` a link that opens the account, or a note if the name or address is
    taken; the caller answers the same either way."""
    if not signup_allowed():
        raise Forbidden(CLOSED)
    name = _checked_username(username)
    address = email_addresses.checked_address(email)
    check_new_password(password, name)
    mail_throttle.count_mail_request(origin, addresses.address_key(address))
    password_hash = passwords.hashing().hash(password)  # before any write: it waits
    address_taken, name_taken = _taken(name, address)
    if address_taken or name_taken:
        mail_tickets.issue_decoy(signed_tokens.SIGNUP)  # the free path's ticket and signature
    if address_taken:
        mail_messages.mail_signup_address_taken(address)
        outcome = "address_taken"
    elif name_taken:
        mail_messages.mail_signup_username_taken(address)
        outcome = "username_taken"
    else:
        token = mail_tickets.issue(
            signed_tokens.SIGNUP, username=name, email=address, password_hash=password_hash
        )
        mail_messages.mail_signup_link(address, token)
        outcome = "success"
    audit("signup_requested", outcome, origin=origin, username=clip(name))
    db.session.commit()


def verify_signup(token: str, *, origin: Origin) -> User:
    """Open the account a pending sign-up's token stands for, its address verified.

    A name or address taken meanwhile ends the pending sign-up: 409.
    """
    ticket = mail_tickets.open_ticket(signed_tokens.SIGNUP, token)
    username, address, password_hash = ticket.username, ticket.email, ticket.password_hash
    mail_tickets.spend(ticket)
    taken = _username_taken(username) or email_addresses.owner_of(address) is not None
    if taken:
        audit("account_verified", "conflict", origin=origin, username=username)
        db.session.commit()
        raise Conflict(NAME_TAKEN)
    return _open_account(username, address, password_hash, False, "account_verified", origin)


def accept_invitation(invite_token: str, username: str, password: str, *, origin: Origin) -> User:
    """Open the account an invitation stands for: its address proved by the token."""
    ticket = mail_tickets.open_ticket(signed_tokens.INVITE, invite_token)
    address, is_admin = ticket.email, ticket.is_admin
    name = _checked_username(username)
    check_new_password(password, name)
    if _username_taken(name):
        raise Conflict(f"username {name!r} is taken")
    if email_addresses.owner_of(address) is not None:
        raise Conflict(email_addresses.TAKEN)
    password_hash = passwords.hashing().hash(password)  # before the spend: hashing waits
    mail_tickets.spend(ticket)
    return _open_account(name, address, password_hash, is_admin, "invitation_used", origin)


def _open_account(
    username: str, address: str, password_hash: str, is_admin: bool, event: str, origin: Origin
) -> User:
    user = User(
        username=username,
        username_key=username.lower(),
        password_hash=password_hash,
        is_admin=is_admin,
        email=address,
        email_key=addresses.address_key(address),
        email_verified=True,
    )
    db.session.add(user)
    try:
        db.session.flush()
        audit(event, origin=origin, user_id=user.id, username=username, is_admin=is_admin)
        audit("user_created", origin=origin, user_id=user.id, username=username)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(NAME_TAKEN) from None
    return user


def _checked_username(username: str) -> str:
    name = usernames.normalize_username(username)
    if name is None:
        raise Invalid(usernames.DETAIL, {"username": [usernames.FIELD_MESSAGE]})
    return name


def _taken(name: str, address: str) -> tuple[bool, bool]:
    """Tell whether an account has ``address``, and whether one has the name ``name``: one
    statement, whichever is the case."""
    address_owner = select(User.id).where(User.email_key == addresses.address_key(address))
    name_owner = select(User.id).where(User.username_key == username_key(name))
    row = db.session.execute(select(address_owner.exists(), name_owner.exists())).one()
    return bool(row[0]), bool(row[1])


def _username_taken(name: str) -> bool:
    key = username_key(name)
    return db.session.scalar(select(User.id).where(User.username_key == key)) is not None
