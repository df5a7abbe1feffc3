"""Login sessions: opening one, its token pair, listing and ending sessions.

A login (``authentication``, ``second_step``) ends here by opening a session; a refresh
(``token_refresh``) spends the session's refresh token for a new pair.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from api.audit_writer import audit
from api.credentials import signed_tokens
from api.database import db
from api.errors import InvalidCredentials, NotFound
from api.models import LoginSession, User, utcnow
from api.origin import Origin
from api.services.pages import Page, paginate

WRONG_CREDENTIALS = "invalid username or password"
PASSWORD_PROOF = "password"  # noqa: S105 (how a login was proved, not a secret)
# What ``secrets.token_urlsafe`` makes, up to the column's 43 characters.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,43}")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str
    user_id: int
    token_type: str = "Bearer"  # noqa: S105 (the RFC 6750 token type, not a secret)


def open_session(
    user: User,
    *,
    origin: Origin,
    enrolment_only: bool = False,
    proof: str = PASSWORD_PROOF,
    dpop_jkt: str | None = None,
    session_id: str | None = None,
    **event_fields: object,
) -> TokenPair:
    """Open a login session for ``user``, who has just proved themselves, and commit.

    ``proof`` says how (``password``, ``password+totp``, ``password+recovery_code``,
    ``passkey``): the session keeps it, and the login's event says it unless it is the password
    alone. With ``dpop_jkt`` (a DPoP key's thumbprint) its tokens are bound to that key. A
    ``session_id`` the caller chose (else a random one) makes a second login with it fail as
    if the user were deleted; ``event_fields`` go into the login's event.
    """
    now = utcnow()
    login_session = LoginSession(
        id=session_id or secrets.token_urlsafe(16),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        authenticated_at=now,
        enrolment_only=enrolment_only,
        expires_at=now + timedelta(seconds=current_app.config["SESSION_MAX_AGE"]),
        user_agent=origin.user_agent or "",
        refresh_generation=0,
        proof=proof,
        dpop_jkt=dpop_jkt,
    )
    user.last_login_at = now
    db.session.add(login_session)
    # Made before the commit, which expires every loaded object: reading them afterwards
    # would cost two more SELECTs for values already at hand.
    pair = token_pair(login_session)
    fields: dict[str, object] = {"enrolment_only": True} if enrolment_only else {}
    fields.update(event_fields)
    if proof != PASSWORD_PROOF:
        fields["proof"] = proof
    if dpop_jkt is not None:
        fields["dpop_bound"] = True
    audit("login", origin=origin, user_id=pair.user_id, session_id=pair.session_id, **fields)
    with unless_user_deleted(WRONG_CREDENTIALS):
        db.session.flush()
    return pair


@contextmanager
def unless_user_deleted(refusal: str) -> Iterator[None]:
    """Write and commit; if another request deleted the user meanwhile, refuse instead."""
    with refused_if_user_deleted(refusal):
        yield
        db.session.commit()


@contextmanager
def refused_if_user_deleted(refusal: str) -> Iterator[None]:
    """Write (no commit); if another request deleted the user meanwhile, roll back and refuse."""
    try:
        yield
    except (StaleDataError, IntegrityError):
        db.session.rollback()
        raise InvalidCredentials(refusal) from None


def token_pair(login_session: LoginSession) -> TokenPair:
    """Return a new access and refresh token of the session's current generation."""
    codec = signed_tokens.codec()
    claims = signed_tokens.Claims(
        login_session.user_id, login_session.id, login_session.refresh_generation
    )
    session_left = int((login_session.expires_at - utcnow()).total_seconds())
    return TokenPair(
        access_token=codec.issue(signed_tokens.ACCESS, claims),
        refresh_token=codec.issue(signed_tokens.REFRESH, claims),
        expires_in=min(codec.max_age[signed_tokens.ACCESS], session_left),
        refresh_expires_in=min(codec.max_age[signed_tokens.REFRESH], session_left),
        session_id=login_session.id,
        user_id=login_session.user_id,
        token_type="Bearer" if login_session.dpop_jkt is None else "DPoP",
    )


def live_sessions(
    user_id: int, current_session_id: str | None, page: int, per_page: int
) -> Page[dict]:
    """Return one page of the user's sessions that still admit tokens, newest first.

    Each item says whether it is ``current``: the session ``current_session_id`` names.
    """
    query = (
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > utcnow(),
        )
        .order_by(LoginSession.created_at.desc(), LoginSession.id)
    )
    found = paginate(query, page, per_page)
    items = [
        {
            "id": login_session.id,
            "created_at": login_session.created_at,
            "last_used_at": login_session.last_used_at,
            "user_agent": login_session.user_agent,
            "current": login_session.id == current_session_id,
            "dpop_bound": login_session.dpop_jkt is not None,
        }
        for login_session in found.items
    ]
    return replace(found, items=items)


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


def logout(user_id: int, session_id: str, *, origin: Origin) -> None:
    """End the session in use."""
    revoke_session(session_id)
    audit("logout", origin=origin, user_id=user_id, session_id=session_id)
    db.session.commit()


def end_session(user_id: int, session_id: str, *, origin: Origin) -> None:
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
    audit("session_ended", origin=origin, user_id=user_id, session_id=session_id)
    db.session.commit()


def end_all_sessions(user_id: int, *, origin: Origin) -> int:
    """End every live session of the user; return how many."""
    ended = revoke_sessions(user_id)
    audit("sessions_ended", origin=origin, user_id=user_id, sessions_ended=ended)
    db.session.commit()
    return ended


def prune_sessions(*, origin: Origin) -> int:
    """Delete the records of revoked and expired sessions; return how many."""
    deleted = db.session.execute(
        LoginSession.__table__.delete().where(
            or_(LoginSession.revoked_at.is_not(None), LoginSession.expires_at <= utcnow())
        )
    ).rowcount
    audit("sessions_pruned", origin=origin, sessions_deleted=deleted)
    db.session.commit()
    return deleted
