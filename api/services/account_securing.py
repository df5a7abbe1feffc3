"""Securing an account from a notice: its token ends every session and PAT of the user."""

from __future__ import annotations

from api.audit_writer import audit
from api.credentials import signed_tokens
from api.database import db
from api.origin import Origin
from api.services import mail_tickets
from api.services.personal_access_tokens import revoke_personal_tokens
from api.services.sessions import revoke_sessions


def secure_account(token: str, *, origin: Origin) -> None:
    """End every session and personal access token of the user a securing token names."""
    ticket = mail_tickets.open_ticket(signed_tokens.SECURE, token)
    user_id = ticket.user_id
    mail_tickets.spend(ticket)
    sessions_ended = revoke_sessions(user_id)
    tokens_ended = revoke_personal_tokens(user_id)
    audit(
        "account_secured",
        origin=origin,
        user_id=user_id,
        sessions_ended=sessions_ended,
        tokens_ended=tokens_ended,
    )
    db.session.commit()
