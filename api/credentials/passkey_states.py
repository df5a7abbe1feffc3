"""A passkey ceremony's ``state``: signed, short-lived, single-use, bound to purpose and user.

The options of a ceremony come with a ``state`` (a ``pks`` token of ``signed_tokens``) that
carries its challenge, its purpose and, for a registration or a reauthentication, its user: no
server session and no cookie hold them. The ceremony's endpoint checks the state's signature,
age, purpose and user before anything is looked up, and spends it in the transaction of the
ceremony's outcome with a row keyed by the challenge, inserted only if absent: of two requests
with one state exactly one wins, on SQLite and PostgreSQL alike. A spent row is kept until the
state would have expired anyway, then pruned.

A login's state is spent by the session it opens, at no statement of its own: the session's
id is made from the challenge (``login_session_id``), so a second session of one state fails
on the primary key, whichever request comes second.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from api.credentials import passkeys, signed_tokens
from api.database import db
from api.models import SpentPasskeyState, utcnow

REGISTER = "register"
LOGIN = "login"
REAUTHENTICATE = "reauthenticate"
PRUNE_EVERY = 60  # seconds, per app
_TABLE = SpentPasskeyState.__table__
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class StateRefused(Exception):
    """A state was refused; ``reason`` says why (bad, expired, foreign or spent)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def issue(purpose: str, user_id: int | None = None) -> tuple[str, str]:
    """Return a new state for ``purpose`` (and ``user_id``) and the challenge it carries."""
    challenge = passkeys.new_challenge()
    claims = signed_tokens.PasskeyStateClaims(purpose, user_id, challenge)
    return signed_tokens.codec().issue(signed_tokens.PASSKEY_STATE, claims), challenge


def open_state(state: str, purpose: str, user_id: int | None = None) -> str:
    """Check a state's form, signature, age, purpose and user; return its challenge.

    No database query: whether it was spent is ``spend``'s to find out.
    """
    try:
        claims = signed_tokens.codec().verify(signed_tokens.PASSKEY_STATE, state)
    except signed_tokens.TokenError as error:
        raise StateRefused(f"state refused: {error.reason}") from None
    if claims.purpose != purpose:
        raise StateRefused("state refused: made for another ceremony")
    if claims.user_id != user_id:
        raise StateRefused("state refused: made for another user")
    return claims.challenge


def spend(challenge: str) -> bool:
    """Spend the state of ``challenge`` in the current transaction; tell whether this call
    spent it (False: it was spent before). The caller commits with the ceremony's outcome."""
    now = utcnow()
    lifetime = timedelta(seconds=int(current_app.config["WEBAUTHN_TIMEOUT"]))
    insert = insert_for(db.session)(_TABLE)
    # RETURNING, not rowcount: psycopg reports no row count for this statement.
    spent = db.session.scalar(
        insert.values(challenge=challenge, expires_at=now + lifetime)
        .on_conflict_do_nothing()
        .returning(_TABLE.c.challenge)
    )
    _prune_now_and_then()
    return spent is not None


def login_session_id(challenge: str) -> str:
    """Return the id of the session a login with this challenge's state opens: as long as a
    random session id, and telling nothing of the challenge."""
    digest = hashlib.sha256(f"tessera passkey login {challenge}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def insert_for(session: Any) -> Callable[[sa.Table], Any]:
    """Return the session's dialect's ``insert``, the one with ``on_conflict_do_nothing``."""
    return _INSERTS[session.get_bind().dialect.name]


def _prune_now_and_then() -> None:
    """Delete the spent states that have expired, at most once a ``PRUNE_EVERY`` per app."""
    moment = time.monotonic()
    due = current_app.extensions.setdefault("tessera.passkey_states.prune_after", 0.0)
    if moment < due:
        return
    current_app.extensions["tessera.passkey_states.prune_after"] = moment + PRUNE_EVERY
    db.session.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at <= utcnow()))
