"""Who is asking: the client's address and user agent, as far as they can be trusted, and the
``Origin`` a view hands to the use case it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from api.origin import Origin

if TYPE_CHECKING:
    from api.security import Principal

USER_AGENT_LENGTH = 255  # what the database keeps


def client_address() -> str:
    """Return the address of the client; ``X-Forwarded-For`` counts only behind trusted proxies."""
    return request.remote_addr or "unknown"


def user_agent() -> str:
    """Return the request's ``User-Agent``, cut to what the database keeps.

    A NUL, which some HTTP servers let through in a header, becomes U+FFFD: PostgreSQL cannot
    store it, and the login would fail with a 500.
    """
    return request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH].replace("\x00", "\ufffd")


def request_origin(user: Principal | None = None) -> Origin:
    """Return where the request being served comes from, acting as ``user``.

    A guarded view passes ``current_user``, whom its guard has authenticated. A view anyone
    may call passes no one: its events have no actor, and asking Flask-Login there would make
    it check whatever token came along, which such a view never needed.
    """
    actor_id = user.id if user is not None and user.is_authenticated else None
    return Origin(client_address(), user_agent(), actor_id)


def init_app(app: Flask) -> None:
    """Take the client address from the last ``TRUSTED_PROXIES`` ``X-Forwarded-For`` hops."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
