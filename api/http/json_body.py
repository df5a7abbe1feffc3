"""The input boundary: how a JSON request body is read, and every way it is refused.

Only a view that takes a body reads one (flask-smorest's ``@blp.arguments`` through the
parser below); a route without one never touches the stream, so a broken body cannot
break it. The body must be, in this order (each refusal a 400 problem+json and one short
log line, never a traceback):

1. readable: a broken chunked encoding or a connection cut mid-body is refused, and so is a
   body shorter than its ``Content-Length``; one past ``MAX_CONTENT_LENGTH`` is 413;
2. UTF-8 (RFC 8259), strictly: UTF-16 and UTF-32, and surrogates encoded as bytes (CESU-8),
   are not;
3. nested at most ``MAX_DEPTH`` arrays and objects deep, checked without recursion before the
   decoder (which recurses) sees it;
4. JSON, and a JSON object;
5. free of NUL characters and lone surrogates in any string, key or value: neither can be
   stored (PostgreSQL refuses NUL; a lone surrogate is not Unicode at all).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Request
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import (
    BadRequest,
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger("tessera")

# Deeper than any body the API takes (an object holding a list of strings is depth 2).
MAX_DEPTH = 32
_OPENERS = "[{"


class InvalidBody(BadRequest):
    """A body refused at the boundary; ``description`` says why, in a short sentence."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        log.warning("request body refused: %s", description)


def read_body(request: Request) -> bytes:
    """Return the whole body, or refuse one that cannot be read in full."""
    try:
        body = request.get_data(cache=True)
    except ClientDisconnected:
        raise InvalidBody("The request body is shorter than its Content-Length.") from None
    except HTTPException:
        raise
    except Exception:  # the server's own error for a broken chunk or a cut connection
        raise InvalidBody("The request body could not be read.") from None
    declared = request.content_length
    if declared is not None and len(body) < declared:
        raise InvalidBody("The request body is shorter than its Content-Length.")
    _refuse_overlong_stream(request, body)
    return body


def _refuse_overlong_stream(request: Request, body: bytes) -> None:
    """Answer 413 to a body sent with no ``Content-Length`` that runs past the limit.

    A chunked body (gunicorn marks its stream terminated) is cut at the limit, and Werkzeug
    hands back what it read without an error: a JSON object padded with whitespace past the
    limit would be accepted. Look one byte further.
    """
    limit = request.max_content_length
    if limit is None or request.content_length is not None or len(body) < limit:
        return
    try:
        more = request.environ["wsgi.input"].read(1)
    except Exception:
        more = b"x"  # unreadable past the limit is past the limit
    if more:
        raise RequestEntityTooLarge()


def decode_utf8(body: bytes) -> str:
    """Return the body as text, refusing anything that is not strict UTF-8.

    A NUL byte is valid UTF-8 but never valid JSON; it is how UTF-16 and UTF-32 show, since
    every JSON text starts with ASCII characters.
    """
    try:
        if b"\x00" in body:
            raise UnicodeDecodeError("utf-8", body, 0, 1, "NUL byte")
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody("The request body is not UTF-8.") from None


def nesting_depth(text: str) -> int:
    """Return how deep arrays and objects nest in JSON ``text``, brackets in strings aside.

    A loop, not a recursion, so no input can exhaust the stack. Only called when the text
    holds more brackets than ``MAX_DEPTH``: the usual body is never scanned.
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _bracket_count(text: str) -> int:
    return text.count("[") + text.count("{")


def holds_unstorable_text(data: Any) -> bool:
    """Tell whether any string in ``data``, key or value, holds a NUL or a lone surrogate.

    A walk with a stack of its own (the depth is bounded already, but no recursion is needed).
    """
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value or (not value.isascii() and not _encodable(value)):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Return the JSON object ``body`` holds, or refuse it with a 400 that says why."""
    text = decode_utf8(body)
    if _bracket_count(text) > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise InvalidBody(f"The request body nests deeper than {MAX_DEPTH} levels.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidBody("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidBody("The request body must be a JSON object.")
    if "\\u" in text and holds_unstorable_text(data):
        raise InvalidBody("The request body holds a NUL character or a lone surrogate.")
    return data


class StrictJSONParser(FlaskParser):
    """webargs' Flask parser with the boundary above for every JSON body."""

    def load_json(self, req: Request, schema: Any) -> Any:
        if not req.is_json:
            raise UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json)."
            )
        return parse_json_object(read_body(req))
