"""Mail tickets: the row each mail token stands for, issued with its mail and spent once.

``issue`` adds the row to the caller's transaction and returns its token (to mail, never to
store). ``open_ticket`` checks a token without the database, then reads its row; ``spend``
marks the row spent with a compare-and-swap, in the transaction of the change it allows, so
two requests with one token never both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import update

from api.credentials import signed_tokens
from api.database import db
from api.errors import ServiceError
from api.models import MailTicket, utcnow

SPENT = "token already used or expired"


class BadMailToken(ServiceError):
    """A mail token that is bad, expired or spent: 400, saying which, never whose."""

    status = 400


def password_fingerprint(password_hash: str) -> str:
    """Return what a reset remembers of the password it was asked under: any change of the
    password (by any path) changes it, and it tells nothing about the password."""
    return hashlib.sha256(b"tessera.reset:" + password_hash.encode()).hexdigest()


def _new_ticket_id() -> str:
    """Return a random id for a ticket row, which its token names."""
    return secrets.token_urlsafe(24)


def issue(kind: str, **columns) -> str:
    """Add a ticket of ``kind`` (one of ``signed_tokens.MAIL_KINDS``) with ``columns``; return
    its token."""
    codec = signed_tokens.codec()
    ticket_id = _new_ticket_id()
    lifetime = timedelta(seconds=codec.max_age[kind])
    db.session.add(
        MailTicket(id=ticket_id, purpose=kind, expires_at=utcnow() + lifetime, **columns)
    )
    return codec.issue(kind, signed_tokens.MailClaims(ticket_id))


def issue_decoy(kind: str) -> None:
    """Add a ticket of ``kind`` that is spent already, and sign its token only to drop it:
    the work ``issue`` does, for a request whose answer must not tell that it mailed no one."""
    ticket_id = _new_ticket_id()
    now = utcnow()
    db.session.add(MailTicket(id=ticket_id, purpose=kind, expires_at=now, spent_at=now))
    signed_tokens.codec().issue(kind, signed_tokens.MailClaims(ticket_id))


def open_ticket(kind: str, token: str) -> MailTicket:
    """Return the live ticket a token of ``kind`` stands for; raise BadMailToken if none."""
    try:
        ticket_id = signed_tokens.codec().verify(kind, token).ticket_id
    except signed_tokens.TokenError as refused:
        raise BadMailToken(refused.reason) from None
    ticket = db.session.get(MailTicket, ticket_id)
    if ticket is None or ticket.purpose != kind:
        raise BadMailToken(SPENT)
    if ticket.spent_at is not None or ticket.expires_at <= utcnow():
        raise BadMailToken(SPENT)
    return ticket


def spend(ticket: MailTicket) -> None:
    """Mark ``ticket`` spent in the current transaction; raise BadMailToken if another request
    spent it first (the transaction is rolled back)."""
    now = utcnow()
    spent = db.session.execute(
        update(MailTicket)
        .where(
            MailTicket.id == ticket.id,
            MailTicket.spent_at.is_(None),
            MailTicket.expires_at > now,
        )
        .values(spent_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1:
        db.session.rollback()
        raise BadMailToken(SPENT)
