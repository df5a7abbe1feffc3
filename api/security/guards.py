"""What a view asks of its caller: a scope, and perhaps a fresh login.

``requires`` guards a view and marks it, so the OpenAPI document and the tests read the mark
instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request
from flask_login import current_user, login_required
from flask_login.config import EXEMPT_METHODS

from api.credentials import scopes
from api.errors import CHALLENGE, Forbidden, InvalidCredentials
from api.http.blueprint import unwrapped
from api.models import utcnow
from api.security.loader import Principal, bearer_claims

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Access:
    """What a view asks of its caller: a valid token carrying ``scope`` (any valid token when
    None) and, if ``fresh``, a login at most ``REAUTH_MAX_AGE`` seconds old."""

    scope: str | None = None
    fresh: bool = False


def requires(scope: str | None = None, *, fresh: bool = False) -> Callable[[View], View]:
    """Let through callers whose token carries ``scope`` (and a fresh login, if asked); mark
    the view with what it asks.

    The view is Flask-Login's ``login_required``. No token, or a refused one, is 401 with the
    RFC 6750 challenge (Flask-Login's ``unauthorized()``); a token without the scope is 403
    ``insufficient_scope``; a login that is not fresh is 401
    ``insufficient_user_authentication`` (RFC 9470).

    A request whose token cannot authenticate (none, or refused before the database) gets
    that 401 straight away: Flask-Login would load the request's cookie session, hash its
    session-protection identifier and look for a remember-me cookie before asking the request
    loader, and the API has none of these, so a refusal would cost twice what it needs. The
    exemptions are Flask-Login's (``OPTIONS``, ``LOGIN_DISABLED``); the claims are checked once
    a request, and the loader reuses them.
    """
    if scope is not None and scope not in scopes.known():
        raise ValueError(f"unknown scope {scope!r}")
    access = Access(scope, fresh)

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            principal = current_user._get_current_object()  # once: each read is a lookup
            if not principal.is_authenticated:  # only with Flask-Login's LOGIN_DISABLED set
                return current_app.login_manager.unauthorized()
            if access.scope is not None and access.scope not in principal.scopes:
                raise insufficient_scope(principal, access.scope)
            if access.fresh and not is_fresh(principal, utcnow()):
                raise stale_login()
            return view(*args, **kwargs)

        guarded = login_required(checked)

        @wraps(guarded)
        def refused_early(*args: Any, **kwargs: Any) -> Any:
            if (
                request.method not in EXEMPT_METHODS
                and bearer_claims(request) is None
                and not current_app.config.get("LOGIN_DISABLED")
            ):
                return current_app.login_manager.unauthorized()
            return guarded(*args, **kwargs)

        refused_early.access = access
        return refused_early

    return decorate


def insufficient_scope(principal: Principal, scope: str) -> Forbidden:
    """The 403 for a valid token without ``scope`` (RFC 6750, section 3.1)."""
    if scopes.for_admins_only(scope) and not principal.is_admin:
        detail = "admin rights required"
    else:
        detail = f"this token does not carry the {scope} scope"
    challenge = f'{CHALLENGE}, error="insufficient_scope", scope="{scope}"'
    return Forbidden(detail, headers={"WWW-Authenticate": challenge})


def is_fresh(principal: Principal, now: datetime) -> bool:
    """Tell whether the caller proved themselves at most ``REAUTH_MAX_AGE`` seconds ago.

    The one rule for "fresh". The proof is the session's ``authenticated_at``: set by the
    login that opened it (its second step, for a user with TOTP) and by each
    ``POST /reauthenticate``, never by a refresh. A personal access token has none.
    """
    if principal.authenticated_at is None:
        return False
    max_age = timedelta(seconds=current_app.config["REAUTH_MAX_AGE"])
    return now - principal.authenticated_at <= max_age


def stale_login() -> InvalidCredentials:
    """The 401 asking for a more recent login (RFC 9470, section 3)."""
    detail = "a more recent login is required"
    max_age = int(current_app.config["REAUTH_MAX_AGE"])
    challenge = (
        f'{CHALLENGE}, error="insufficient_user_authentication", '
        f'error_description="{detail}", max_age={max_age}'
    )
    return InvalidCredentials(detail, headers={"WWW-Authenticate": challenge})


def access_of(view: Callable[..., Any]) -> Access | None:
    """Return what ``view`` asks of its caller, or None for a view anyone may call."""
    for layer in unwrapped(view):
        access = getattr(layer, "access", None)
        if access is not None:
            return access
    return None
