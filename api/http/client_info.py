"""Who is asking: the client's address and user agent, as far as they can be trusted."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

USER_AGENT_LENGTH = 255  # what the database keeps


@dataclass(frozen=True, slots=True)
class Client:
    """The request's origin, as plain values a service can take."""

    address: str
    user_agent: str


def client_address() -> str:
    """Return the address of the client; ``X-Forwarded-For`` counts only behind trusted proxies."""
    return request.remote_addr or "unknown"


def user_agent() -> str:
    """Return the request's ``User-Agent``, cut to what the database keeps.

    A NUL, which some HTTP servers let through in a header, becomes U+FFFD: PostgreSQL cannot
    store it, and the login would fail with a 500.
    """
    return request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH].replace("\x00", "\ufffd")


def current_client() -> Client:
    """Return the address and user agent of the request being served."""
    return Client(client_address(), user_agent())


def init_app(app: Flask) -> None:
    """Take the client address from the last ``TRUSTED_PROXIES`` ``X-Forwarded-For`` hops."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
