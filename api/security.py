"""Who is calling and what they may do.

Bearer tokens are the only way in: no cookie session, no remember-me cookie. One Flask-Login
request loader checks a token's form, signature, expiry and kind without the database, then
loads the user and the session in one statement. Views say what they need with ``requires``,
which also marks them, so the OpenAPI document and the tests read the mark instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Request, Response, current_app, g
from flask.sessions import SessionInterface
from flask_login import LoginManager, login_required
from sqlalchemy import Connection, bindparam, select, update

from . import tokens
from .database import db
from .errors import CHALLENGE, Forbidden, problem
from .models import LoginSession, User, session_refusal, utcnow
from .views import unwrapped

View = TypeVar("View", bound=Callable[..., Any])

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
    g.principal = Principal(row.id, row.username, row.is_admin, row.created_at, claims.session_id)
    return g.principal


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


def caller() -> Principal | None:
    """Return who the request authenticated as, if a guard has checked; never loads anyone."""
    return g.get("principal")


@dataclass(frozen=True, slots=True)
class Access:
    """What a view asks of its caller: a valid token, and admin rights if ``admin``."""

    admin: bool = False


def requires(*, admin: bool = False) -> Callable[[View], View]:
    """Let through callers with a valid token (and admin rights, if asked); mark the view.

    No token, or a refused one, is 401 with the RFC 6750 challenge (Flask-Login's
    ``login_required``); a caller without the rights is 403.
    """
    access = Access(admin=admin)

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            principal = caller()
            if principal is None:  # only if someone set Flask-Login's LOGIN_DISABLED
                return current_app.login_manager.unauthorized()
            if access.admin and not principal.is_admin:
                raise Forbidden("admin rights required")
            return view(*args, **kwargs)

        guarded = login_required(checked)
        guarded.access = access
        return guarded

    return decorate


def access_of(view: Callable[..., Any]) -> Access | None:
    """Return what ``view`` asks of its caller, or None for a view anyone may call."""
    for layer in unwrapped(view):
        access = getattr(layer, "access", None)
        if access is not None:
            return access
    return None


class NoSessionInterface(SessionInterface):
    """Never read or write a cookie session.

    The API is authenticated by bearer tokens alone; a cookie session would let Flask-Login
    skip the token checks, and would outlive a logout. Anything that writes to ``session``
    fails loudly instead of setting a cookie.
    """

    def open_session(self, app, request):
        return None  # Flask then uses its read-only NullSession

    def save_session(self, app, session, response) -> None:
        return None


class IgnoreCookies:
    """WSGI middleware: the request's cookies never reach the app.

    Flask-Login would try a remember-me cookie before the request loader, and skip the loader
    when one is present; with no cookie at all, the loader is the only way in.
    """

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ.pop("HTTP_COOKIE", None)
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Make bearer tokens the only way in: the app's login manager, no cookies, no session."""
    app.session_interface = NoSessionInterface()
    app.wsgi_app = IgnoreCookies(app.wsgi_app)
    login_manager = LoginManager(app)
    login_manager.session_protection = None
    login_manager.request_loader(load_principal)
    login_manager.unauthorized_handler(unauthorized)
