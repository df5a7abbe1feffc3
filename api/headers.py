"""The headers every response carries: no sniffing, no referrer, no caching by default."""

from __future__ import annotations

from flask import Flask, Response

JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# What a JSON answer that set none of them gets, in this order.
_DEFAULTS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", JSON_CSP),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
)
_NAMES = frozenset(name.lower() for name, _ in _DEFAULTS)


def secure_headers(response: Response) -> Response:
    """Add the headers every response carries; pages of their own set their own CSP."""
    headers = response.headers
    # Nearly every answer has set none of them: append all five at once, with no search for
    # each one (Werkzeug scans the whole list on every ``headers[name] = value``).
    if not any(name.lower() in _NAMES for name, _ in headers):
        headers.extend(_DEFAULTS)
        return response
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Content-Security-Policy", JSON_CSP)
    headers.setdefault("Cache-Control", "no-store")
    if headers["Cache-Control"] == "no-store":
        headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response, errors included."""
    app.json.sort_keys = False
    app.after_request(secure_headers)
