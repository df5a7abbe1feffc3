"""The request body's deadline: Apache ``mod_reqtimeout``'s ``body=10,MinRate=500`` rule.

gunicorn.conf.py's server reads a request's head within its own deadline, but the body is the
app's to read: a client sending one byte a second would keep its reader waiting for as long as it
liked. So the whole body is read here, before the app sees the request: it has 10 seconds, and
one more for every 500 bytes that arrive; past that the client gets a 408 and the connection is
closed. A body declared larger than ``MAX_CONTENT_LENGTH`` is left unread for the app's 413.

On gevent's event loop (the shipped server) each read is cut off the moment its time is up. On
a threaded server a read that waits is not interrupted: its lateness is seen when it returns.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from flask import Flask

from api import event_loop
from api.errors import problem

log = logging.getLogger("tessera")

GRACE_SECONDS = 10.0
MIN_RATE = 500  # bytes a second, once the grace is spent
# Bytes asked for in one read: small enough that each read ends well within the time it buys.
READ_SIZE = 1024
TOO_SLOW = "The request body arrived too slowly: 10 seconds, then at least 500 bytes a second."


class BodyTooSlow(Exception):
    """The body had not arrived by its deadline: ``received`` bytes of it had."""

    def __init__(self, received: int) -> None:
        super().__init__(f"{received} bytes received by the deadline")
        self.received = received


def read_stream_by_deadline(
    stream: IO[bytes],
    length: int | None,
    limit: int | None,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Read ``length`` bytes of ``stream`` (None: up to its end, at most ``limit`` + 1).

    Raise ``BodyTooSlow`` when the body has not arrived within ``GRACE_SECONDS`` plus one
    second per ``MIN_RATE`` bytes received. A body that ends early is returned short, for the
    app to refuse as it refuses any truncated body.
    """
    wanted = length if length is not None else (limit + 1 if limit is not None else sys.maxsize)
    started = clock()
    chunks: list[bytes] = []
    received = 0
    while received < wanted:
        deadline = started + GRACE_SECONDS + received / MIN_RATE
        with _interrupted_at(deadline - clock(), received):
            chunk = stream.read(min(READ_SIZE, wanted - received))
        if clock() > deadline:
            raise BodyTooSlow(received)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


@contextmanager
def _interrupted_at(seconds: float, received: int) -> Iterator[None]:
    """Raise ``BodyTooSlow`` in a read still waiting after ``seconds``, where that is possible."""
    if seconds <= 0:
        raise BodyTooSlow(received)
    with event_loop.time_limit(seconds, BodyTooSlow(received)):
        yield


def _declared_length(environ: dict[str, Any]) -> int | None:
    """The body's ``Content-Length``, or None for a chunked body (read to its end)."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


class RequestDeadline:
    """WSGI middleware: the app sees a request only once its whole body is here."""

    def __init__(
        self,
        wsgi_app: Callable[..., Any],
        app: Flask,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = _declared_length(environ)
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if length == 0 or (length is not None and limit is not None and length > limit):
            return self.wsgi_app(environ, start_response)
        try:
            body = read_stream_by_deadline(environ["wsgi.input"], length, limit, self.clock)
        except BodyTooSlow as slow:
            log.info("request body too slow (%d bytes by its deadline): 408", slow.received)
            response = problem(408, TOO_SLOW, headers={"Connection": "close"})
            return response(environ, start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Read every request body within its deadline before the app sees the request."""
    app.wsgi_app = RequestDeadline(app.wsgi_app, app)
