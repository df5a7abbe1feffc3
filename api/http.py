"""HTTP hygiene on every response: security headers, no caching, and no cookie session."""

from __future__ import annotations

from flask import Flask, Response, request
from flask.sessions import SessionInterface
from werkzeug.exceptions import NotFound, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class NoSessionInterface(SessionInterface):
    """Never read or write a cookie session.

    The API is authenticated by bearer tokens alone; a cookie session would let Flask-Login
    skip the token checks, and would outlive a logout. Anything that writes to ``session``
    fails loudly instead of setting a cookie.
    """

    def open_session(self, app, request):
        return None  # Flask then uses its read-only NullSession

    def save_session(self, app, session, response) -> None:
        return None


class IdConverter(IntegerConverter):
    """A database id in a path: 1 to 2**31 - 1, so no value can overflow a column.

    Anything else is 404. A converter's usual refusal (``ValidationError``) would make
    werkzeug answer 405 when the path has rules for other methods, so the pattern refuses
    what it can (zero, leading zeros, signs, more than 10 digits) and an id past the
    maximum is refused as a resource that cannot exist.
    """

    regex = r"[1-9][0-9]{0,9}"

    def __init__(self, url_map, **kwargs) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.max:
            raise NotFound()
        return number


def secure_headers(response: Response) -> Response:
    """Add the headers every response carries; pages of their own set their own CSP."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Content-Security-Policy", JSON_CSP)
    headers.setdefault("Cache-Control", "no-store")
    if headers["Cache-Control"] == "no-store":
        headers["Pragma"] = "no-cache"
    return response


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
    """Install the session interface, the id converter, the body limit and the headers."""
    app.session_interface = NoSessionInterface()
    app.json.sort_keys = False
    app.url_map.converters["id"] = IdConverter
    app.before_request(refuse_oversized_streams)
    app.after_request(secure_headers)
