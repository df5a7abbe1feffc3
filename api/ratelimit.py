"""Failed-login limits: per client address and per username, two independent counters.

Only failures count (a 401 from ``POST /login``), but once a counter is over its limit even
the right password gets 429 until the window passes. Counters live in memory, one set per
process, or in Redis when ``REDIS_URL`` is set, shared by every process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from flask_limiter import RequestLimit
from limits.errors import StorageError

from .audit import audit
from .clients import client_address
from .errors import problem
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


# A Redis that does not answer must not hold up a login for long, and its errors arrive
# wrapped in StorageError whatever the client library raised.
REDIS_STORAGE_OPTIONS = {
    "socket_connect_timeout": 0.5,
    "socket_timeout": 0.5,
    "wrap_exceptions": True,
}


class _ReportSwallowedStorageErrors(logging.Handler):
    """Turn Flask-Limiter's "swallowing error" lines into audit lines: limits are off."""

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, StorageError):
            audit("rate_limit_storage", "unavailable", failing="open", error=_describe(error))


def _describe(error: StorageError) -> str:
    return f"{type(error.storage_error).__name__}: {error.storage_error}"[:200]


def _refuse_without_storage(error: StorageError) -> Response:
    """Fail closed: without its counters, refuse the login rather than allow unlimited tries."""
    audit("rate_limit_storage", "unavailable", failing="closed", error=_describe(error))
    return problem(
        503, "login is unavailable: the rate-limit store does not answer", {"Retry-After": "5"}
    )


def init_app(app: Flask) -> None:
    """Point the limiter at Redis or memory; fail open when the store is down, if so configured.

    Failing open (``RATE_LIMIT_FAIL_OPEN``, the default) keeps logins working while Redis is
    down, without limits, and says so in the audit log on every login. Failing closed answers
    logins 503 until Redis is back.
    """
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis", "rediss")):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", REDIS_STORAGE_OPTIONS)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", bool(app.config["RATE_LIMIT_FAIL_OPEN"]))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "tessera")
    # Flask-Limiter keeps the first key prefix it was given for good; the limiter is shared
    # by every app of the process, so forget it and let this app's configuration count.
    limiter._key_prefix = None
    limiter._swallow_errors = None  # the same goes for failing open or closed
    limiter.init_app(app)
    app.register_error_handler(StorageError, _refuse_without_storage)
    if not any(isinstance(h, _ReportSwallowedStorageErrors) for h in limiter.logger.handlers):
        limiter.logger.addHandler(_ReportSwallowedStorageErrors())
