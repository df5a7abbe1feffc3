"""The headers every response carries: no sniffing, no referrer, no caching by default."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# What an answer that set none of them gets, in this order.
_DEFAULTS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", JSON_CSP),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
)
_NAMES = frozenset(name.lower() for name, _ in _DEFAULTS)


def secure_headers(headers: list[tuple[str, str]]) -> None:
    """Add the headers every response carries to a WSGI header list; a page that chose its
    own CSP or caching keeps it."""
    names = {name.lower() for name, _ in headers}
    if names.isdisjoint(_NAMES):
        headers.extend(_DEFAULTS)
        return
    _replace(headers, "X-Content-Type-Options", "nosniff")
    _replace(headers, "Referrer-Policy", "no-referrer")
    if "content-security-policy" not in names:
        headers.append(("Content-Security-Policy", JSON_CSP))
    if "cache-control" not in names:
        headers.append(("Cache-Control", "no-store"))
    if any(key.lower() == "cache-control" and value == "no-store" for key, value in headers):
        _replace(headers, "Pragma", "no-cache")


def _replace(headers: list[tuple[str, str]], name: str, value: str) -> None:
    headers[:] = [(key, old) for key, old in headers if key.lower() != name.lower()]
    headers.append((name, value))


class SecureHeaders:
    """WSGI middleware: every response, errors included, gets the headers on its way out.

    Added to the header list the server receives, after Flask has built the response, so
    no ``Headers`` object re-checks five constant values on every request.
    """

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start_secured(status: str, headers: list, exc_info: Any = None) -> Any:
            secure_headers(headers)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_secured)


def init_app(app: Flask) -> None:
    """Add the headers to every response, errors included."""
    app.wsgi_app = SecureHeaders(app.wsgi_app)
