"""Who is calling and what they may do.

Bearer tokens are the only way in: no cookie session, no remember-me cookie (``cookies``). One
Flask-Login request loader (``loader``) checks a token's form, signature, expiry and kind
without the database, then loads the user with the login session (an access token) or with
the personal access token's row (a PAT) in one statement. Views say what they need with
``requires`` (``guards``): the scope, and whether the login must be fresh.
"""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager

from api.security import loader
from api.security.cookies import CookielessRequest, IgnoreCookies, NoSessionInterface
from api.security.guards import (
    Access,
    access_of,
    caller,
    insufficient_scope,
    is_fresh,
    requires,
    stale_login,
)
from api.security.loader import Principal, bearer_token, load_principal, unauthorized

__all__ = [
    "Access",
    "CookielessRequest",
    "IgnoreCookies",
    "NoSessionInterface",
    "Principal",
    "access_of",
    "bearer_token",
    "caller",
    "init_app",
    "insufficient_scope",
    "is_fresh",
    "load_principal",
    "requires",
    "stale_login",
    "unauthorized",
]


def init_app(app: Flask) -> None:
    """Make bearer tokens the only way in: the app's login manager, no cookies, no session."""
    loader.init_app(app)
    app.session_interface = NoSessionInterface()
    app.request_class = CookielessRequest
    app.wsgi_app = IgnoreCookies(app.wsgi_app)
    login_manager = LoginManager(app)
    login_manager.session_protection = None
    login_manager.request_loader(load_principal)
    login_manager.unauthorized_handler(unauthorized)
