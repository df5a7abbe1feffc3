"""Changing one's own password, which proves the current one first."""

from __future__ import annotations

from api.audit_writer import audit
from api.credentials import failed_attempts, passwords
from api.database import db
from api.errors import Forbidden, InvalidCredentials
from api.models import User
from api.origin import Origin
from api.services import mfa, notices
from api.services.accounts import check_new_password
from api.services.sessions import revoke_sessions, unless_user_deleted


def change_password(
    user_id: int, session_id: str, current: str, new: str, *, origin: Origin
) -> None:
    """Change the password after checking the current one; end every other session and
    every open ``mfa_token`` (one got with the old password checks no code after this).

    A wrong current password is a failed attempt, counted before it is checked, for the
    address and this session (its own limit): whoever holds a token cannot guess the
    account's password faster than a stranger could, and strangers who keep the username
    locked do not lock its owner's session out.
    """
    attempt = failed_attempts.count(origin, failed_attempts.session(session_id))
    user = db.session.get(User, user_id)
    if user is None:
        attempt.give_back()
        raise InvalidCredentials("user deleted")
    if not passwords.hashing().verify(user.password_hash, current):
        failed_attempts.refuse_wrong_secret(
            origin,
            Forbidden("current password is wrong"),
            "password_changed",
            user_id=user_id,
            session_id=session_id,
        )
    attempt.give_back()  # before anything is written: it may wait on the store
    check_new_password(new, user.username, field="new_password")
    with unless_user_deleted("user deleted"):
        user.password_hash = passwords.hashing().hash(new)
        ended = revoke_sessions(user_id, keep_session_id=session_id)
        mfa.spend_challenges(user_id)
        notices.notify(user_id, "password_changed", origin)
        audit(
            "password_changed",
            origin=origin,
            user_id=user_id,
            session_id=session_id,
            sessions_ended=ended,
        )
