"""``GET /docs/passkeys``: a page that registers a passkey and logs in with it through the
JSON API, served by the app with no CDN: the reference a front-end developer copies.

The page and its script are files beside this module (``static/``). The page has its own
Content-Security-Policy: its script from this origin only, requests to this origin only.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response

from api.http import openapi

STATIC = Path(__file__).parent / "static"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
SCRIPT_MAX_AGE = 3600

blp = Blueprint("passkeys_page", __name__)


@blp.route("/docs/passkeys", methods=["GET"])
def passkeys_page() -> Response:
    """Serve the passkey page."""
    response = Response((STATIC / "passkeys.html").read_bytes(), mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


@blp.route("/docs/passkeys.js", methods=["GET"])
def script() -> Response:
    """Serve the page's script: plain JavaScript, meant to be read and copied."""
    response = Response((STATIC / "passkeys.js").read_bytes(), mimetype="text/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = SCRIPT_MAX_AGE
    return response


def init_app(app: Flask) -> None:
    """Register the page and describe it in the OpenAPI document."""
    app.register_blueprint(blp)
    summary = "A page that registers a passkey and logs in with it, served by the app."
    openapi.document_page(app, "passkeys_page.passkeys_page", summary, "text/html")
