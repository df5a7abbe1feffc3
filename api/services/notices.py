"""Security notices: a short mail to the owner's verified address when something about their
account changes, each with a link that secures the account (``account_securing``).

``notify`` joins the caller's transaction, so a notice goes out only for a change that was
committed. An account without a verified address gets none.
"""

from __future__ import annotations

from api.credentials import signed_tokens
from api.database import db
from api.models import User
from api.origin import Origin
from api.services import mail_messages, mail_tickets


def notify(user_id: int, kind: str, origin: Origin | None = None) -> None:
    """Mail ``user_id``'s verified address the notice ``kind`` (a key of
    ``mail_messages.NOTICES``), with a securing link; in the caller's transaction.

    ``origin`` is where the change came from; the notice says what happened, not from where.
    """
    user = db.session.get(User, user_id)
    if user is None or not user.email or not user.email_verified:
        return
    notify_address(user_id, user.email, kind)


def notify_address(user_id: int, address: str, kind: str) -> None:
    """Mail ``address`` the notice ``kind`` for ``user_id``'s account, with a securing link."""
    token = mail_tickets.issue(signed_tokens.SECURE, user_id=user_id)
    mail_messages.mail_notice(address, kind, token)
