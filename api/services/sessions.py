"""Login sessions: logging in, refreshing, listing and ending sessions, changing passwords."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from api.audit_writer import audit, clip
from api.credentials import failed_attempts, passwords, scopes, signed_tokens
from api.database import db
from api.errors import Forbidden, InvalidCredentials
from api.http.client_info import Client
from api.http.pagination import Page, paginate
from api.models import LoginSession, User, session_refusal, utcnow
from api.services import mfa
from api.services.accounts import check_new_password, find_user, username_key
from api.services.revocation import revoke_session, revoke_sessions

WRONG_CREDENTIALS = "invalid username or password"


class InvalidRefreshToken(InvalidCredentials):
    """A refresh token was refused; ``detail`` says why."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str
    user_id: int
    token_type: str = "Bearer"  # noqa: S105 (the RFC 6750 token type, not a secret)


def authenticate(username: str, password: str, client: Client) -> TokenPair:
    """Check the credentials and open a new login session.

    Unknown user, wrong password and deactivated user are refused alike, each after exactly
    one password verification, so neither the answer nor its timing tells them apart. Each
    refusal is a failed attempt for the client's address and the username.

    The right password of a user with TOTP on opens no session yet: it raises
    ``SecondFactorRequired`` with the ``mfa_token`` of a new challenge (not a failed attempt).
    A user whom ``MFA_REQUIRED`` names and who has no TOTP gets an enrolment-only session.
    """
    key = username_key(username)
    failed_attempts.check(client.address, key)
    hashing = passwords.hashing()
    user = find_user(username)
    if user is None:
        hashing.verify_dummy(password)
        failed_attempts.record_failure(client.address, key)
        audit("login", "failure", refused=True, reason="unknown user", username=clip(username))
        raise InvalidCredentials(WRONG_CREDENTIALS)
    verified = hashing.verify(user.password_hash, password)
    if not verified or not user.is_active:
        failed_attempts.record_failure(client.address, key)
        reason = "user deactivated" if verified else "wrong password"
        audit("login", "failure", user_id=user.id, refused=True, reason=reason)
        raise InvalidCredentials(WRONG_CREDENTIALS)
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash(password)
    if user.mfa_enabled:
        second_step = mfa.open_challenge(user)
        audit("login", "mfa_required", user_id=user.id)
        with _unless_user_deleted(WRONG_CREDENTIALS):
            db.session.flush()
        raise second_step
    enrolment_only = scopes.mfa_required(current_app.config["MFA_REQUIRED"], user.is_admin)
    return open_session(user, client, enrolment_only=enrolment_only)


def open_session(user: User, client: Client, enrolment_only: bool = False) -> TokenPair:
    """Open a login session for ``user``, who has just proved themselves, and commit."""
    now = utcnow()
    login_session = LoginSession(
        id=secrets.token_urlsafe(16),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        authenticated_at=now,
        enrolment_only=enrolment_only,
        expires_at=now + timedelta(seconds=current_app.config["SESSION_MAX_AGE"]),
        user_agent=client.user_agent,
        refresh_generation=0,
    )
    user.last_login_at = now
    db.session.add(login_session)
    # Made before the commit, which expires every loaded object: reading them afterwards
    # would cost two more SELECTs for values already at hand.
    pair = token_pair(login_session)
    fields = {"enrolment_only": True} if enrolment_only else {}
    audit("login", user_id=pair.user_id, session_id=pair.session_id, **fields)
    with _unless_user_deleted(WRONG_CREDENTIALS):
        db.session.flush()
    return pair


@contextmanager
def _unless_user_deleted(refusal: str) -> Iterator[None]:
    """Write and commit; if another request deleted the user meanwhile, refuse instead."""
    try:
        yield
        db.session.commit()
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
    )


def refresh(refresh_token: str) -> TokenPair:
    """Spend ``refresh_token`` for a new pair of the same session.

    The swap is one compare-and-swap on the session's refresh generation, so of many
    concurrent refreshes with one token exactly one wins. A token already spent is a theft
    signal (RFC 9700, 4.14.2): the whole session is revoked; unless it was spent by the
    latest refresh, at most ``REFRESH_REUSE_LEEWAY`` seconds ago, which is a client race
    (two tabs, a retry after a lost answer): that gets a pair of the current generation.
    """
    try:
        claims = signed_tokens.codec().verify(signed_tokens.REFRESH, refresh_token)
    except signed_tokens.TokenError as exc:
        audit("refresh", "failure", refused=True, reason=exc.reason)
        raise InvalidRefreshToken(exc.reason) from None
    now = utcnow()
    active_user = select(User.id).where(User.id == claims.user_id, User.is_active.is_(True))
    swapped = db.session.execute(
        update(LoginSession)
        .where(
            LoginSession.id == claims.session_id,
            LoginSession.user_id.in_(active_user.scalar_subquery()),
            LoginSession.refresh_generation == claims.generation,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
        .values(refresh_generation=claims.generation + 1, last_used_at=now, refreshed_at=now)
    ).rowcount
    if swapped != 1:
        db.session.rollback()
        return _refresh_race_or_refuse(claims)
    audit("refresh", user_id=claims.user_id, session_id=claims.session_id)
    db.session.commit()
    login_session = db.session.get(LoginSession, claims.session_id, populate_existing=True)
    return token_pair(login_session)


def _within_leeway(login_session: LoginSession, generation: int) -> bool:
    """Tell whether ``generation`` was spent by the session's latest refresh, just now."""
    leeway = int(current_app.config["REFRESH_REUSE_LEEWAY"])
    refreshed_at = login_session.refreshed_at
    return (
        leeway > 0
        and refreshed_at is not None
        and generation == login_session.refresh_generation - 1
        and utcnow() - refreshed_at <= timedelta(seconds=leeway)
    )


def _refresh_race_or_refuse(claims: signed_tokens.Claims) -> TokenPair:
    """Answer a refresh whose swap failed: a race inside the leeway, a reuse, or a refusal."""
    row = db.session.execute(
        select(LoginSession, User.is_active)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.id == claims.session_id, LoginSession.user_id == claims.user_id)
    ).first()
    if row is None:
        reason = "session not found"
    else:
        login_session, is_active = row
        reason = session_refusal(
            login_session.revoked_at, login_session.expires_at, is_active, utcnow()
        )
    if reason is None and _within_leeway(login_session, claims.generation):
        # No swap and no new generation: the session goes on as one, both tabs in it.
        audit("refresh", user_id=claims.user_id, session_id=claims.session_id, leeway=True)
        db.session.commit()
        return token_pair(login_session)
    if reason is None:
        # The session is live, so the token's generation is an old one: it was spent before.
        revoke_session(claims.session_id)
        audit("refresh_reuse", "revoked", user_id=claims.user_id, session_id=claims.session_id)
        db.session.commit()
        raise InvalidRefreshToken("refresh token reused; session revoked")
    audit("refresh", "failure", user_id=claims.user_id, refused=True, reason=reason)
    raise InvalidRefreshToken(reason)


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
        }
        for login_session in found.items
    ]
    return replace(found, items=items)


def change_password(user_id: int, session_id: str, current: str, new: str, client: Client) -> None:
    """Change the password after checking the current one; end every other session.

    A wrong current password is a failed attempt, as at login: whoever holds a token cannot
    guess the account's password faster than a stranger could.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidCredentials("user deleted")
    failed_attempts.check(client.address, user.username_key)
    if not passwords.hashing().verify(user.password_hash, current):
        failed_attempts.record_failure(client.address, user.username_key)
        audit("password_changed", "failure", user_id=user_id, session_id=session_id, refused=True)
        raise Forbidden("current password is wrong")
    check_new_password(new, user.username, field="new_password")
    with _unless_user_deleted("user deleted"):
        user.password_hash = passwords.hashing().hash(new)
        ended = revoke_sessions(user_id, keep_session_id=session_id)
        audit("password_changed", user_id=user_id, session_id=session_id, sessions_ended=ended)


def prune_sessions() -> int:
    """Delete the records of revoked and expired sessions; return how many."""
    deleted = db.session.execute(
        LoginSession.__table__.delete().where(
            or_(LoginSession.revoked_at.is_not(None), LoginSession.expires_at <= utcnow())
        )
    ).rowcount
    audit("sessions_pruned", sessions_deleted=deleted)
    db.session.commit()
    return deleted
