"""The Blueprint both API blueprints use: flask-smorest's, with a strict JSON body parser."""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import Request
from flask_smorest.utils import resolve_schema_instance
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, UnsupportedMediaType


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


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictJSONParser()

    def arguments(self, schema: Any, *args: Any, **kwargs: Any):
        """Declare a view's input schema, as flask-smorest does, built once for all requests.

        Given a schema class, webargs builds a new instance on every request (about a tenth of
        a small authenticated request); an instance is reused as it is.
        """
        return super().arguments(resolve_schema_instance(schema), *args, **kwargs)
