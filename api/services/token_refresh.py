"""Refreshing: spending a session's refresh token for a new pair, and catching its reuse."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import ColumnElement, or_, select, update

from api.audit_writer import audit
from api.credentials import signed_tokens
from api.database import db
from api.errors import InvalidCredentials
from api.models import LoginSession, User, session_refusal, utcnow
from api.origin import Origin
from api.refusal_tally import count_refusal
from api.services import dpop_binding
from api.services.sessions import TokenPair, revoke_session, token_pair


class InvalidRefreshToken(InvalidCredentials):
    """A refresh token was refused; ``detail`` says why."""


def refresh(refresh_token: str, *, origin: Origin, dpop_jkt: str | None = None) -> TokenPair:
    """Spend ``refresh_token`` for a new pair of the same session.

    The swap is one compare-and-swap on the session's refresh generation, so of many
    concurrent refreshes with one token exactly one wins. A token already spent is a theft
    signal (RFC 9700, 4.14.2): the whole session is revoked; unless it was spent by the
    latest refresh, at most ``REFRESH_REUSE_LEEWAY`` seconds ago, which is a client race
    (two tabs, a retry after a lost answer): that gets a pair of the current generation.

    A session bound to a DPoP key swaps only with a proof of that key (``dpop_jkt``); without
    one, or with another key's, nothing is spent and the answer is 400 ``invalid_dpop_proof``.
    An unbound session stays unbound whatever proof comes along.
    """
    try:
        claims = signed_tokens.codec().verify(signed_tokens.REFRESH, refresh_token)
    except signed_tokens.TokenError as exc:
        # It proves nothing and costs its sender nothing: counted, not an audit row each.
        count_refusal("refresh", exc.reason, origin=origin)
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
            _bound_to(dpop_jkt),
        )
        .values(refresh_generation=claims.generation + 1, last_used_at=now, refreshed_at=now)
    ).rowcount
    if swapped != 1:
        db.session.rollback()
        return _race_or_refuse(claims, origin, dpop_jkt)
    # Read and signed before the commit, while this transaction holds the row: once it is
    # committed, a delete of the user (or the session) may take the row at any moment.
    login_session = db.session.get(LoginSession, claims.session_id, populate_existing=True)
    pair = token_pair(login_session)
    audit("refresh", origin=origin, user_id=claims.user_id, session_id=claims.session_id)
    db.session.commit()
    return pair


def _bound_to(dpop_jkt: str | None) -> ColumnElement[bool]:
    """The sessions a refresh with a proof of ``dpop_jkt`` (None: no proof) may swap."""
    unbound = LoginSession.dpop_jkt.is_(None)
    return unbound if dpop_jkt is None else or_(unbound, LoginSession.dpop_jkt == dpop_jkt)


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


def _race_or_refuse(
    claims: signed_tokens.Claims, origin: Origin, dpop_jkt: str | None
) -> TokenPair:
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
    ids = {"origin": origin, "user_id": claims.user_id, "session_id": claims.session_id}
    if reason is None:  # a live session: its key first, so that a refused proof spends nothing
        dpop_binding.require_same_key(login_session.dpop_jkt, dpop_jkt)
    if reason is None and _within_leeway(login_session, claims.generation):
        # No swap and no new generation: the session goes on as one, both tabs in it. The
        # pair is made before the commit expires the row, which a delete may take meanwhile.
        pair = token_pair(login_session)
        audit("refresh", **ids, leeway=True)
        db.session.commit()
        return pair
    if reason is None:
        # The session is live, so the token's generation is an old one: it was spent before.
        revoke_session(claims.session_id)
        audit("refresh_reuse", "revoked", **ids)
        db.session.commit()
        raise InvalidRefreshToken("refresh token reused; session revoked")
    audit("refresh", "failure", origin=origin, user_id=claims.user_id, refused=True, reason=reason)
    raise InvalidRefreshToken(reason)
