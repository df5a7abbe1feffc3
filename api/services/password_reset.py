"""A forgotten password: a reset mailed to the account's verified address, and the reset.

``request_reset`` answers the same whether or not an account has the address, after the same
work: the known path and the unknown one each count the request, read the account, write a
ticket (the unknown one's spent at once), sign its token, encrypt a mail body, write a mail row
(the unknown one's to no one) and the event, and commit once. A reset token works once, for
``PASSWORD_RESET_MAX_AGE`` seconds, and only while the password is the one it was asked under
(``password_fingerprint``): any change of the password, by any path, ends it. A reset ends
every session and PAT and every open ``mfa_token``; it leaves TOTP and passkeys on.
"""

from __future__ import annotations

from sqlalchemy import select

from api.audit_writer import audit
from api.credentials import addresses, mail_throttle, passwords, signed_tokens
from api.database import db
from api.models import User
from api.origin import Origin
from api.services import mail_messages, mail_tickets, mfa, notices, outbox
from api.services.accounts import check_new_password
from api.services.personal_access_tokens import revoke_personal_tokens
from api.services.sessions import revoke_sessions

NO_LONGER_VALID = "token no longer valid"


def request_reset(email: str, *, origin: Origin) -> None:
    """Mail a reset link to ``email`` if it is the verified address of an active account."""
    key = addresses.address_key(email)
    mail_throttle.count_mail_request(origin, key)
    user = db.session.scalar(
        select(User).where(
            User.email_key == key, User.email_verified.is_(True), User.is_active.is_(True)
        )
    )
    if user is None:
        # The same work as the known path's (a ticket, a mail row, a body encrypted), mailed
        # nowhere.
        mail_tickets.issue_decoy(signed_tokens.RESET)
        outbox.add_decoy(mail_messages.link(mail_messages.RESET_PASSWORD, key))
        audit("password_reset_requested", "ignored", origin=origin)
        db.session.commit()
        return
    token = mail_tickets.issue(
        signed_tokens.RESET,
        user_id=user.id,
        password_fingerprint=mail_tickets.password_fingerprint(user.password_hash),
    )
    mail_messages.mail_reset(user.email, token)
    audit("password_reset_requested", origin=origin, user_id=user.id)
    db.session.commit()


def reset_password(token: str, new_password: str, *, origin: Origin) -> None:
    """Set a new password with a reset token; end every session, PAT and ``mfa_token``."""
    ticket = mail_tickets.open_ticket(signed_tokens.RESET, token)
    user = db.session.get(User, ticket.user_id)
    if (
        user is None
        or not user.is_active
        or ticket.password_fingerprint != mail_tickets.password_fingerprint(user.password_hash)
    ):
        raise mail_tickets.BadMailToken(NO_LONGER_VALID)
    check_new_password(new_password, user.username, field="new_password")
    new_hash = passwords.hashing().hash(new_password)  # before any write: hashing waits
    mail_tickets.spend(ticket)
    user.password_hash = new_hash
    sessions_ended = revoke_sessions(user.id)
    tokens_ended = revoke_personal_tokens(user.id)
    mfa.spend_challenges(user.id)
    notices.notify(user.id, "password_reset", origin)
    audit(
        "password_reset",
        origin=origin,
        user_id=user.id,
        sessions_ended=sessions_ended,
        tokens_ended=tokens_ended,
    )
    db.session.commit()
