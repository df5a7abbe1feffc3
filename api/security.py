"""Turning a request into a user: the one Flask-Login request loader, and the 401 it leads to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, Request, Response, current_app, g
from sqlalchemy import Connection, bindparam, select, update

from . import tokens
from .errors import CHALLENGE, problem
from .extensions import db, login_manager
from .models import LoginSession, User, session_refusal, utcnow

# RFC 6750 section 2.1: the scheme (any case), one space, a b64token.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)")

# One statement loads user and session together: the only query a valid token costs. It is
# built from the tables, not the mapped classes, so it runs as plain Core on a pooled
# connection: no ORM session to open and close and no ORM compile step on every request.
_USERS = User.__table__
_SESSIONS = LoginSession.__table__
_PRINCIPAL_QUERY = (
    select(
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.is_admin,
        _USERS.c.is_active,
        _USERS.c.created_at,
        _SESSIONS.c.user_id.label("session_user_id"),
        _SESSIONS.c.expires_at,
        _SESSIONS.c.revoked_at,
        _SESSIONS.c.last_used_at,
    )
    .select_from(_SESSIONS.join(_USERS, _USERS.c.id == _SESSIONS.c.user_id))
    .where(_SESSIONS.c.id == bindparam("session_id"))
)
_TOUCH = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(last_used_at=bindparam("now"))
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: the user's public fields and the session in use."""

    id: int
    username: str
    is_admin: bool
    created_at: datetime
    session_id: str
    is_active: bool = True
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)


def bearer_token(request: Request) -> str | None:
    """Return the bearer token the request carries, or None; raise TokenError if malformed.

    WSGI joins repeated headers with ", ", so two Authorization headers fail the grammar.
    """
    header = request.headers.get("Authorization")
    if header is None:
        param = current_app.config["TOKEN_QUERY_PARAM"]
        return request.args.get(param) if param else None
    if header[:6].lower() != "bearer":
        return None  # no credentials of ours: another scheme gets the plain challenge
    match = _BEARER.fullmatch(header)
    if match is None:
        raise tokens.TokenError("malformed Authorization header")
    return match.group(1)


def load_principal(request: Request) -> Principal | None:
    """Flask-Login request loader: every check that needs no database, then one query."""
    try:
        token = bearer_token(request)
        if token is None:
            return None
        claims = tokens.codec().verify(tokens.ACCESS, token)
    except tokens.TokenError as exc:
        g.token_refusal = exc.reason
        return None
    with db.engine.connect() as connection:
        row = connection.execute(_PRINCIPAL_QUERY, {"session_id": claims.session_id}).first()
        now = utcnow()
        reason = _refusal(row, claims, now)
        if reason:
            g.token_refusal = reason
            return None
        _touch(connection, claims.session_id, row.last_used_at, now)
    return Principal(row.id, row.username, row.is_admin, row.created_at, claims.session_id)


def _refusal(row, claims: tokens.Claims, now: datetime) -> str | None:
    if row is None or row.session_user_id != claims.user_id:
        return "session not found"
    return session_refusal(row.revoked_at, row.expires_at, row.is_active, now)


def _touch(connection: Connection, session_id: str, last_used_at: datetime, now: datetime) -> None:
    """Record use of the session, at most once per ``LAST_USED_RESOLUTION`` seconds."""
    resolution = timedelta(seconds=current_app.config["LAST_USED_RESOLUTION"])
    if now - last_used_at < resolution:
        return
    connection.execute(_TOUCH, {"session_id": session_id, "now": now})
    connection.commit()


def unauthorized() -> Response:
    """Answer 401 with the RFC 6750 challenge; name the error only when a token was refused."""
    reason = g.get("token_refusal")
    if reason is None:
        return problem(401, "authentication required", headers={"WWW-Authenticate": CHALLENGE})
    challenge = f'{CHALLENGE}, error="invalid_token", error_description="{reason}"'
    return problem(401, reason, headers={"WWW-Authenticate": challenge})


def init_app(app: Flask) -> None:
    """Make bearer tokens the only way to log in."""
    login_manager.init_app(app)
    login_manager.request_loader(load_principal)
    login_manager.unauthorized_handler(unauthorized)
