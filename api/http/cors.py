"""Cross-origin calls (CORS) from the browser front ends that ``CORS_ORIGINS`` names.

A front end on another origin may call the API with a bearer token and read every answer,
errors included (a 401's ``WWW-Authenticate``, a 429's ``Retry-After``): each answer to a
named origin allows it, and a preflight allows the headers the API reads. An origin not named
gets no ``Access-Control-*`` header at all, so its browser keeps the answer from it. No answer
allows credentials: the API has no cookies, and a bearer token is sent by the page itself.

A few lines of WSGI middleware rather than flask-cors: the contract is an exact list of
origins and fixed headers, where flask-cors's generality (patterns as origins, per-path
resources, credentials, wildcards) is where its 2024 advisories were. As middleware around
the whole app, the answers made outside Flask's handlers (the request deadline's 408) are
readable too. ``Vary: Origin`` is on every answer, since whether one carries the headers
depends on the ``Origin`` sent (flask-cors adds it only for more than one origin).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP"
EXPOSED_HEADERS = "WWW-Authenticate, Location, Retry-After, Link"
# Chromium's ceiling: a browser keeps a preflight's answer this many seconds at most.
PREFLIGHT_MAX_AGE = 7200


def allowed_origins(setting: Iterable[str] | None) -> frozenset[str]:
    """Return the origins ``CORS_ORIGINS`` names (checked by ``api.config``), in lower case
    as browsers send them."""
    return frozenset(origin.lower() for origin in setting or ())


def cross_origin_headers(origin: str, preflight: bool) -> list[tuple[str, str]]:
    """Return the headers that let the page at ``origin`` (an allowed one) read an answer."""
    headers = [("Access-Control-Allow-Origin", origin)]
    if preflight:
        headers += [
            ("Access-Control-Allow-Methods", ALLOWED_METHODS),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE)),
        ]
    else:
        headers.append(("Access-Control-Expose-Headers", EXPOSED_HEADERS))
    return headers


def vary_on_origin(headers: list[tuple[str, str]]) -> None:
    """Add ``Origin`` to the answer's ``Vary``, keeping what it already names."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            named = {part.strip().lower() for part in value.split(",")}
            if not named & {"origin", "*"}:
                headers[index] = (name, f"{value}, Origin")
            return
    headers.append(("Vary", "Origin"))


class CrossOrigin:
    """WSGI middleware: the answers to an allowed origin carry the CORS headers.

    A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) goes through the app
    like any request: Flask answers it for any path that has a route, and 404 otherwise.
    """

    def __init__(self, wsgi_app: Callable[..., Any], origins: frozenset[str]) -> None:
        self.wsgi_app = wsgi_app
        self.origins = origins

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        origin = environ.get("HTTP_ORIGIN")
        allowed = origin is not None and origin.lower() in self.origins
        preflight = (
            environ.get("REQUEST_METHOD") == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        )

        def start_cross_origin(status: str, headers: list, exc_info: Any = None) -> Any:
            vary_on_origin(headers)
            if allowed:
                headers.extend(cross_origin_headers(origin, preflight))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_cross_origin)


def init_app(app: Flask) -> None:
    """Let the origins ``CORS_ORIGINS`` names call the API; with none, change nothing."""
    origins = allowed_origins(app.config.get("CORS_ORIGINS"))
    if origins:
        app.wsgi_app = CrossOrigin(app.wsgi_app, origins)
