"""The query string a view reads: its own parameters, nothing unknown, never a token.

A parameter the view does not take is refused with 422, not ignored: ``GET /audit?user=bob``
would otherwise list every user's events, and the client would never learn that the filter
it meant (``user_id``) was not applied. The one exception is the bearer token's parameter,
when the configuration names one (``TOKEN_QUERY_PARAM``): the request loader reads it, and no
view argument or link may carry it.
"""

from __future__ import annotations

from typing import Any

from flask import Request, current_app
from marshmallow import RAISE
from werkzeug.datastructures import MultiDict

from api.http.json_body import StrictJSONParser


def view_query(request: Request) -> MultiDict[str, str]:
    """Return the request's query parameters without the bearer token's."""
    token_param = current_app.config.get("TOKEN_QUERY_PARAM")
    if not token_param or token_param not in request.args:
        return request.args
    arguments = MultiDict(request.args)
    arguments.poplist(token_param)
    return arguments


class ArgumentsParser(StrictJSONParser):
    """The strict JSON body parser, with a strict query: an unknown parameter is 422."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **StrictJSONParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": RAISE,
        "querystring": RAISE,
    }

    def load_querystring(self, req: Request, schema: Any) -> Any:
        return self._makeproxy(view_query(req), schema)
