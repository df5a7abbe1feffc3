"""Who is calling and what they may do: Flask-Login, narrowed to bearer tokens.

Flask-Login does the plumbing: its ``request_loader`` (``loader.load_principal``) turns the
request into a ``Principal``, ``login_required`` refuses a request that is no one through its
``unauthorized_handler`` (``loader.unauthorized``: 401 with the RFC 6750 challenge), and views
read the caller as ``current_user``; nothing below a view does (use cases take ids and an
``Origin``). Tessera adds: bearer tokens only, no cookie session and no remember-me cookie
(``cookies``); a loader that checks a token without the database, then reads the user with its
session or personal access token in one statement; and ``requires`` (``guards``), which refuses
a token that cannot authenticate before Flask-Login's cookie work, then asks for the view's
scope and, if it says so, a fresh login.
"""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager

from api.security import loader
from api.security.cookies import CookielessRequest, IgnoreCookies, NoSessionInterface
from api.security.guards import (
    Access,
    access_of,
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
