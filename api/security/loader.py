"""The request loader: turn a request's bearer token into a ``Principal``, or refuse it.

Every check that needs no database comes first (the header's form, the signature, the expiry,
the kind, each claim's type and range, and with the ``DPoP`` scheme every check of the proof
but its replay); then one statement loads the user with the login session (an access token) or
with the personal access token's row (a PAT). The statement asks for the row by everything the
token names (its id, its user and, for a PAT, its nonce): a row that differs in any is no row,
the token of a deleted row finds none. The row's DPoP key, read in the same statement, is then
compared with the request's scheme and proof, and a proof that passes is recorded
(``security.dpop``): one more statement, none with Redis.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, current_app, g
from sqlalchemy import Update, bindparam, select, update

from api.credentials import scopes, signed_tokens
from api.credentials.dpop_proofs import ProofError
from api.database import db
from api.errors import CHALLENGE, problem
from api.models import (
    LoginSession,
    PersonalToken,
    User,
    personal_token_refusal,
    session_refusal,
    utcnow,
)
from api.security import dpop
from api.security.row_lookup import RowLookup

# RFC 6750 section 2.1: the scheme (any case), one space, a b64token.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)")
# RFC 9449 section 7.1: the DPoP scheme, the same token grammar.
_DPOP = re.compile(r"[Dd][Pp][Oo][Pp] ([A-Za-z0-9\-._~+/]+=*)")

EXTENSION = "tessera.bearer"
_UNCHECKED = object()

# One statement loads the user with the session (or the PAT's row) together: the only query a
# valid token costs. It is built from the tables, not the mapped classes, and each app runs it
# as a ``RowLookup``: compiled once, straight on a pooled connection, no ORM session. Each
# looks its row up by primary key, and by the rest of what the token names.
_USERS = User.__table__


def _principal_query(table, *columns, bound_to=()):
    """The user's public fields with ``table``'s row (a session or a PAT) of that id and user,
    and matching ``bound_to`` (conditions on what else the token names)."""
    return (
        select(
            _USERS.c.id,
            _USERS.c.username,
            _USERS.c.is_admin,
            _USERS.c.is_active,
            _USERS.c.created_at,
            _USERS.c.email,
            _USERS.c.email_verified,
            table.c.expires_at,
            table.c.revoked_at,
            table.c.last_used_at,
            table.c.dpop_jkt,
            *columns,
        )
        .select_from(table.join(_USERS, _USERS.c.id == table.c.user_id))
        .where(
            table.c.id == bindparam("row_id"),
            table.c.user_id == bindparam("user_id"),
            *bound_to,
        )
    )


def _touch_statement(table):
    """Record the use of ``table``'s row of that id."""
    return (
        update(table).where(table.c.id == bindparam("row_id")).values(last_used_at=bindparam("now"))
    )


_SESSIONS = LoginSession.__table__
_PERSONAL = PersonalToken.__table__
_PRINCIPAL_QUERY = _principal_query(
    _SESSIONS,
    _SESSIONS.c.authenticated_at,
    _SESSIONS.c.enrolment_only,
    _USERS.c.totp_secret.is_not(None).label("mfa_enabled"),
)
_PERSONAL_PRINCIPAL_QUERY = _principal_query(
    _PERSONAL, _PERSONAL.c.scopes, bound_to=(_PERSONAL.c.nonce == bindparam("nonce"),)
)
_TOUCH_SESSION = _touch_statement(_SESSIONS)
_TOUCH_PERSONAL = _touch_statement(_PERSONAL)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: the user's public fields, the credential in use, its scopes.

    A session token sets ``session_id``; a personal access token sets ``token_id`` and leaves
    ``session_id`` None. Only session tokens carry ``account``, so a view that needs it can
    count on a session.
    """

    id: int
    username: str
    is_admin: bool
    created_at: datetime
    session_id: str | None
    scopes: tuple[str, ...] = ()  # sorted
    token_id: int | None = None
    # When the user last proved themselves in this session (None for a PAT).
    authenticated_at: datetime | None = None
    # "DPoP" when the credential is bound to a DPoP key (RFC 9449), else "Bearer".
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)
    is_active: bool = True
    # The account's address and whether its owner proved it (``GET /me`` shows them).
    email: str | None = None
    email_verified: bool = False
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)


def bearer_token(request: Request) -> str | None:
    """Return the bearer token the request carries, or None; raise TokenError if malformed.

    WSGI joins repeated headers with ", ", so two Authorization headers fail the grammar.
    """
    header = request.environ.get("HTTP_AUTHORIZATION")
    if header is None:
        param = current_app.config["TOKEN_QUERY_PARAM"]
        return request.args.get(param) if param else None
    if header[:6].lower() != "bearer":
        return None  # no credentials of ours: another scheme gets the plain challenge
    match = _BEARER.fullmatch(header)
    if match is None:
        raise signed_tokens.TokenError("malformed Authorization header")
    return match.group(1)


@dataclass(frozen=True)
class TokenRows:
    """Where one kind of bearer token has its rows: how to read one with its user, record its
    use, and say whether it admits the token; ``name`` is how a refusal calls it."""

    lookup: RowLookup
    touch: Update
    refusal: Callable[[datetime | None, datetime, bool, datetime], str | None]
    name: str


class BearerCheck:
    """What the loader needs of one app, made once: its codec, its lookups, its settings."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            engine = db.engine
            self.codec = signed_tokens.codec()
        self.sessions = TokenRows(
            RowLookup(engine, _PRINCIPAL_QUERY), _TOUCH_SESSION, session_refusal, "session"
        )
        self.personal_tokens = TokenRows(
            RowLookup(engine, _PERSONAL_PRINCIPAL_QUERY),
            _TOUCH_PERSONAL,
            personal_token_refusal,
            "token",
        )
        self.touch_every = timedelta(seconds=app.config["LAST_USED_RESOLUTION"])
        self.mfa_policy = app.config["MFA_REQUIRED"]


def init_app(app: Flask) -> None:
    """Make the app's ``BearerCheck``; after the database and the token codec."""
    app.extensions[EXTENSION] = BearerCheck(app)


def bearer_claims(request: Request) -> signed_tokens.Claims | signed_tokens.PersonalClaims | None:
    """Check the request's bearer token without the database: its form, signature, expiry and
    kind. Return its claims, or None when there is none or it is refused (``g.token_refusal``
    then says why). Checked once a request, whoever asks first."""
    claims = g.get("bearer_claims", _UNCHECKED)
    if claims is _UNCHECKED:
        claims = _verified(request)
        g.bearer_claims = claims
    return claims


def _verified(request: Request) -> signed_tokens.Claims | signed_tokens.PersonalClaims | None:
    check: BearerCheck = current_app.extensions[EXTENSION]
    try:
        token = dpop_token(request)
        if token is not None:
            dpop.resource_proof(request, token)
        else:
            token = bearer_token(request)
        if token is None:
            return None
        return check.codec.verify(signed_tokens.BEARER_KINDS, token)
    except signed_tokens.TokenError as exc:
        g.token_refusal = exc.reason
        return None
    except ProofError as exc:
        return _refuse(exc.reason, dpop.INVALID_DPOP_PROOF)


def dpop_token(request: Request) -> str | None:
    """Return the token of an ``Authorization: DPoP`` header, or None for another scheme;
    raise TokenError if malformed."""
    header = request.environ.get("HTTP_AUTHORIZATION")
    if header is None or header[:5].lower() != "dpop ":
        return None
    match = _DPOP.fullmatch(header)
    if match is None:
        raise signed_tokens.TokenError("malformed Authorization header")
    return match.group(1)


def load_principal(request: Request) -> Principal | None:
    """Flask-Login request loader: every check that needs no database, then one query."""
    claims = bearer_claims(request)
    if claims is None:
        return None
    check: BearerCheck = current_app.extensions[EXTENSION]
    if isinstance(claims, signed_tokens.PersonalClaims):
        return _load_personal(check, claims)
    return _load_session(check, claims)


def _load_session(check: BearerCheck, claims: signed_tokens.Claims) -> Principal | None:
    row = _live_row(check, check.sessions, claims.session_id, user_id=claims.user_id)
    if row is None:
        return None
    granted = scopes.session_scopes(
        row.is_admin, bool(row.mfa_enabled), bool(row.enrolment_only), check.mfa_policy
    )
    return Principal(
        row.id,
        row.username,
        row.is_admin,
        row.created_at,
        claims.session_id,
        scopes.in_order(granted),
        authenticated_at=row.authenticated_at,
        token_type=_token_type(row.dpop_jkt),
        email=row.email,
        email_verified=bool(row.email_verified),
    )


def _load_personal(check: BearerCheck, claims: signed_tokens.PersonalClaims) -> Principal | None:
    row = _live_row(
        check,
        check.personal_tokens,
        claims.token_id,
        user_id=claims.user_id,
        nonce=claims.nonce,
    )
    if row is None:
        return None
    # What the token was made with, cut to what the user's role allows now.
    granted = scopes.parse(row.scopes) & scopes.granted_by_role(row.is_admin)
    return Principal(
        row.id,
        row.username,
        row.is_admin,
        row.created_at,
        None,
        scopes.in_order(granted),
        token_id=claims.token_id,
        token_type=_token_type(row.dpop_jkt),
        email=row.email,
        email_verified=bool(row.email_verified),
    )


def _token_type(dpop_jkt: str | None) -> str:
    return "DPoP" if dpop_jkt is not None else "Bearer"


def _live_row(check: BearerCheck, rows: TokenRows, row_id: str | int, **named: Any) -> Any:
    """Return the token's row with its user's, if it is the row the token names (``named``:
    its user and more) and admits the token now, and record its use; else refuse, saying why."""
    row = rows.lookup.first(row_id=row_id, **named)
    now = utcnow()
    if row is None:
        return _refuse(f"{rows.name} not found")
    reason = rows.refusal(row.revoked_at, row.expires_at, row.is_active, now)
    if reason:
        return _refuse(reason)
    refused = dpop.binding_refusal(row.dpop_jkt)
    if refused is not None:
        return _refuse(refused[1], refused[0])
    if _stale(row.last_used_at, now, check):
        with rows.lookup.engine.begin() as connection:
            connection.execute(rows.touch, {"row_id": row_id, "now": now})
    return row


def _refuse(reason: str, error: str = dpop.INVALID_TOKEN) -> None:
    g.token_refusal = reason
    g.token_error = error
    return None


def _stale(last_used_at: datetime | None, now: datetime, check: BearerCheck) -> bool:
    """Tell whether the row's use is due to be recorded: at most once per
    ``LAST_USED_RESOLUTION`` seconds, so a busy client does not write on every request."""
    return last_used_at is None or now - last_used_at >= check.touch_every


def unauthorized() -> Response:
    """Answer 401 with the RFC 6750 challenge (RFC 9449's, to a DPoP request: ``problem``);
    name the error only when a token or a proof was refused."""
    reason = g.get("token_refusal")
    if reason is None:
        return problem(401, "authentication required", headers={"WWW-Authenticate": CHALLENGE})
    error = g.get("token_error", dpop.INVALID_TOKEN)
    challenge = f'{CHALLENGE}, error="{error}", error_description="{reason}"'
    return problem(401, reason, headers={"WWW-Authenticate": challenge})
