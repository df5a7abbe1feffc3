"""Who is asking: the client's address and user agent, as far as they can be trusted."""

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix


def client_address() -> str:
    """Return the address of the client; ``X-Forwarded-For`` counts only behind trusted proxies."""
    return request.remote_addr or "unknown"


def trust_proxies(app: Flask) -> None:
    """Take the client address from the last ``TRUSTED_PROXIES`` ``X-Forwarded-For`` hops."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def user_agent(limit: int = 255) -> str:
    """Return the request's ``User-Agent``, cut to what the database keeps.

    A NUL, which some HTTP servers let through in a header, becomes U+FFFD: PostgreSQL cannot
    store it, and the login would fail with a 500.
    """
    return request.headers.get("User-Agent", "")[:limit].replace("\x00", "\ufffd")
