"""How paths reach views: the ``id`` converter, and no redirect of any kind.

Werkzeug answers ``/notes//1`` and ``/notes/`` with a redirect to the canonical path, built
from the request's ``Host`` header: an attacker's host, echoed before authentication. Tessera
never redirects: such a path is 404 (``errors.py`` turns any routing redirect into one).
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from api.models import MAX_ID  # the largest id a column holds: no path can name more


class IdConverter(IntegerConverter):
    """A database id in a path: 1 to 2**31 - 1, so no value can overflow a column.

    Anything else is 404. A converter's usual refusal (``ValidationError``) would make
    werkzeug answer 405 when the path has rules for other methods, so the pattern refuses
    what it can (zero, leading zeros, signs, more than 10 digits) and an id past the
    maximum is refused as a resource that cannot exist.
    """

    regex = r"[1-9][0-9]{0,9}"

    def __init__(self, url_map, **kwargs) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.max:
            raise NotFound()
        return number


def init_app(app: Flask) -> None:
    """Register the converters; match paths exactly as sent."""
    app.url_map.converters["id"] = IdConverter
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
