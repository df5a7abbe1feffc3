"""Failed-login limits: per client address and per username, two independent counters.

Only failures count (a 401 from ``POST /login``), but once a counter is over its limit even
the right password gets 429 until the window passes. Counters live in memory, one set per
process, or in Redis when ``REDIS_URL`` is set, shared by every process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from flask_limiter import RequestLimit

from .audit import audit
from .clients import client_address
from .extensions import limiter
from .services.accounts import username_key


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _username() -> str:
    """Return the key of the username the login names.

    A name that cannot be a username (no user can have it) shares one bucket: keys stay
    short and storable in Redis whatever the client sends, lone surrogates included.
    """
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return (username_key(name) if isinstance(name, str) else None) or "-"


def _login_failed(response: Response) -> bool:
    return response.status_code == 401


def _refuse(request_limit: RequestLimit) -> Response:
    """Log the breach and hand the error handler a ``Retry-After`` to send with the 429."""
    scope = request_limit.request_args[-1]  # the limit's key, then its scope
    if scope.endswith("login-username"):
        counter = {"counter": "username", "username": _username()}
    else:
        counter = {"counter": "address"}
    audit("rate_limited", "refused", limit=str(request_limit.limit), **counter)
    retry_after = max(1, request_limit.reset_at - int(time.time()))
    return Response(status=429, headers={"Retry-After": str(retry_after)})


def _failed_login_limit(key_func: Callable[[], str], scope: str):
    return limiter.limit(
        _login_rate_limit,
        key_func=key_func,
        scope=scope,
        deduct_when=_login_failed,
        on_breach=_refuse,
    )


def limit_failed_logins(view):
    """Rate limit failed logins to ``view`` per client address and per username."""
    by_address = _failed_login_limit(client_address, "login-address")
    by_username = _failed_login_limit(_username, "login-username")
    return by_address(by_username(view))


def init_app(app: Flask) -> None:
    """Point the limiter at Redis or memory; fail open when the store is down, if so configured."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", bool(app.config["RATE_LIMIT_FAIL_OPEN"]))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "tessera")
    # Flask-Limiter keeps the first key prefix it was given for good; the limiter is shared
    # by every app of the process, so forget it and let this app's configuration count.
    limiter._key_prefix = None
    limiter.init_app(app)
