"""Ending login sessions and tokens: one use case, whoever asks (the user, an admin, the CLI,
or anyone holding a leaked token)."""

from __future__ import annotations

import re

from sqlalchemy import update

from api.audit_writer import audit
from api.credentials import signed_tokens
from api.database import db
from api.errors import NotFound
from api.models import LoginSession, PersonalToken, utcnow
from api.services.personal_access_tokens import revoke_personal_tokens

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


def end_all_credentials(user_id: int) -> tuple[int, int]:
    """End every live session and every personal access token of the user.

    Return how many sessions and how many tokens were live.
    """
    sessions_ended = revoke_sessions(user_id)
    tokens_ended = revoke_personal_tokens(user_id)
    audit(
        "sessions_ended",
        user_id=user_id,
        sessions_ended=sessions_ended,
        tokens_ended=tokens_ended,
    )
    db.session.commit()
    return sessions_ended, tokens_ended


_KIND_NAMES = {
    signed_tokens.ACCESS: "access",
    signed_tokens.REFRESH: "refresh",
    signed_tokens.PERSONAL: "personal",
}


def revoke_token(token: str) -> None:
    """End what a valid token stands for, whoever sends it (RFC 7009's idea).

    An access or refresh token ends its login session; a personal access token ends itself.
    Anything else, or a token whose session or PAT has already ended, changes nothing. The
    caller answers the same whatever happened here, so the answer tells nothing. A token that
    verifies as nothing writes no event: anyone may send any number of them.
    """
    try:
        claims = signed_tokens.codec().verify(frozenset(_KIND_NAMES), token)
    except signed_tokens.TokenError:
        return  # names no one: no event (each would be a row anyone could add)
    kind = _KIND_NAMES[signed_tokens.kind_of(token)]
    now = utcnow()
    if isinstance(claims, signed_tokens.PersonalClaims):
        table, row_id, ids = PersonalToken, claims.token_id, {"token_id": claims.token_id}
    else:
        table, row_id, ids = LoginSession, claims.session_id, {"session_id": claims.session_id}
    ended = db.session.execute(
        update(table)
        .where(table.id == row_id, table.user_id == claims.user_id, table.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    outcome = "success" if ended else "ignored"
    audit("token_revoked", outcome, kind=kind, user_id=claims.user_id, **ids)
    db.session.commit()


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
