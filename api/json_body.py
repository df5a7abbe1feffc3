"""The input boundary: how a JSON request body is read and refused."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, request
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType


class StrictJSONParser(FlaskParser):
    """Refuse a body that is not JSON (415) or not a JSON object (400) before validation."""

    def load_json(self, req: Request, schema: Any) -> Any:
        if not req.is_json:
            raise UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json)."
            )
        try:
            data = req.get_json()
        except BadRequest:
            raise BadRequest("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.")
        if b"\\u" in req.get_data() and _holds_unstorable_text(data):
            raise BadRequest(
                "The request body holds a NUL character or a lone surrogate in a string."
            )
        return data


def _holds_unstorable_text(data: Any) -> bool:
    """Tell whether a string in ``data``, key or value, is valid JSON but no storable text.

    A NUL (``"\\u0000"``) cannot be stored by PostgreSQL, and a lone surrogate
    (``"\\ud800"``) is not Unicode: the driver and the password hasher would fail with a 500.
    Both can only arrive escaped, hence the cheap ``\\u`` test before this walk.
    """
    if isinstance(data, str):
        if "\x00" in data:
            return True
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(data, dict):
        return any(_holds_unstorable_text(k) or _holds_unstorable_text(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_holds_unstorable_text(item) for item in data)
    return False


def refuse_oversized_streams() -> None:
    """Answer 413 to a body sent with no ``Content-Length`` that runs past the limit.

    A body with a ``Content-Length`` over ``MAX_CONTENT_LENGTH`` is refused by Werkzeug before
    it is read. A chunked one (gunicorn marks its stream terminated) is cut at the limit, and
    Werkzeug hands back what it read without an error: a JSON object padded with whitespace
    past the limit would be accepted. Read it here, once, and look one byte further.
    """
    limit = request.max_content_length
    if (
        limit is None
        or request.content_length is not None
        or "wsgi.input_terminated" not in request.environ
    ):
        return
    body = request.get_data(cache=True)
    if len(body) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def init_app(app: Flask) -> None:
    """Refuse oversized chunked bodies before any view runs."""
    app.before_request(refuse_oversized_streams)
