"""No cookie ever: no session cookie is read or written, and no cookie reaches the app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Request
from flask.sessions import SessionInterface
from werkzeug.datastructures import ImmutableMultiDict

_NO_COOKIES: ImmutableMultiDict[str, str] = ImmutableMultiDict()


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


class CookielessRequest(Request):
    """The app's request: it never has a cookie (``IgnoreCookies`` took them all away), so
    asking for one (Flask-Login looks for its remember-me cookie) parses nothing."""

    @property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        return _NO_COOKIES
