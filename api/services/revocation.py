"""Revocation: ending what a token stands for, whoever sends it, and every credential of a user
at once (the CLI's ``users revoke``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from api.audit_writer import audit
from api.credentials import signed_tokens
from api.database import db
from api.models import LoginSession, MfaChallenge, PersonalToken, utcnow
from api.origin import Origin
from api.services.personal_access_tokens import revoke_personal_tokens
from api.services.sessions import revoke_sessions


def end_all_credentials(user_id: int, *, origin: Origin) -> tuple[int, int]:
    """End every live session and every personal access token of the user.

    Return how many sessions and how many tokens were live.
    """
    sessions_ended = revoke_sessions(user_id)
    tokens_ended = revoke_personal_tokens(user_id)
    audit(
        "sessions_ended",
        origin=origin,
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
    signed_tokens.MFA: "mfa",
}


def revoke_token(token: str, *, origin: Origin) -> None:
    """End what a valid token stands for, whoever sends it (RFC 7009's idea).

    An access or refresh token ends its login session; a personal access token and an
    ``mfa_token`` (its login's challenge: no code is checked for it again) end themselves.
    Anything else, or a token whose session or PAT has already ended, changes nothing. The
    caller answers the same whatever happened here, so the answer tells nothing. A token that
    verifies as nothing writes no event: anyone may send any number of them.
    """
    try:
        claims = signed_tokens.codec().verify(frozenset(_KIND_NAMES), token)
    except signed_tokens.TokenError:
        return  # names no one: no event (each would be a row anyone could add)
    kind = _KIND_NAMES[signed_tokens.kind_of(token)]
    table, row_id, end, ids = _row_of(claims)
    # A PAT stands for its row only while the row holds the nonce the token names.
    bound = [PersonalToken.nonce == claims.nonce] if table is PersonalToken else []
    ended = db.session.execute(
        update(table)
        .where(
            table.id == row_id,
            table.user_id == claims.user_id,
            getattr(table, end).is_(None),
            *bound,
        )
        .values({end: utcnow()})
    ).rowcount
    outcome = "success" if ended else "ignored"
    audit("token_revoked", outcome, origin=origin, kind=kind, user_id=claims.user_id, **ids)
    db.session.commit()


def _row_of(claims: Any) -> tuple[Any, str | int, str, dict[str, str | int]]:
    """Return the table and id of the row a token stands for, the column its end is marked
    in, and the ids its event names. An ``mfa_token``'s challenge is spent as a success
    spends it, so ``POST /login/mfa`` refuses the token."""
    if isinstance(claims, signed_tokens.MfaClaims):
        return MfaChallenge, claims.challenge_id, "spent_at", {}
    if isinstance(claims, signed_tokens.PersonalClaims):
        return PersonalToken, claims.token_id, "revoked_at", {"token_id": claims.token_id}
    return LoginSession, claims.session_id, "revoked_at", {"session_id": claims.session_id}
