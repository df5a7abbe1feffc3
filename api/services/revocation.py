"""Ending login sessions: one use case, whoever asks (the user, an admin, the CLI)."""

from __future__ import annotations

import re

from sqlalchemy import update

from ..audit import audit
from ..database import db
from ..errors import NotFound
from ..models import LoginSession, utcnow

# What ``secrets.token_urlsafe`` makes, up to the column's 43 characters.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,43}")


def revoke_sessions(user_id: int, keep_session_id: str | None = None) -> int:
    """Revoke the user's live sessions (all but one, if named) in the current transaction.

    Return how many were live. The caller commits, with the change that called for it.
    """
    query = update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        query = query.where(LoginSession.id != keep_session_id)
    return db.session.execute(query.values(revoked_at=utcnow())).rowcount


def revoke_session(session_id: str) -> int:
    """Revoke one session in the current transaction; return 1 if it was live, else 0."""
    return db.session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount


def end_all_sessions(user_id: int) -> int:
    """End every live session of the user; return how many."""
    ended = revoke_sessions(user_id)
    audit("sessions_ended", user_id=user_id, sessions_ended=ended)
    db.session.commit()
    return ended


def logout(user_id: int, session_id: str) -> None:
    """End the session in use."""
    revoke_session(session_id)
    audit("logout", user_id=user_id, session_id=session_id)
    db.session.commit()


def end_session(user_id: int, session_id: str) -> None:
    """End one of the user's sessions; another user's, or an ended one, is NotFound."""
    if not SESSION_ID.fullmatch(session_id):
        # Not an id we make; asking PostgreSQL about one holding a NUL would be a 500.
        raise NotFound("no such session")
    now = utcnow()
    ended = db.session.execute(
        update(LoginSession)
        .where(
            LoginSession.id == session_id,
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
        .values(revoked_at=now)
    ).rowcount
    if ended != 1:
        db.session.rollback()
        raise NotFound("no such session")
    audit("session_ended", user_id=user_id, session_id=session_id)
    db.session.commit()
