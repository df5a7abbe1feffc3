"""Requests over loopback, one fresh connection each, as a client of a real server sends them."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any


class Unanswered(Exception):
    """The server did not answer: refused, reset, or timed out."""


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> Reply:
    """Send one request on a fresh connection; raise Unanswered if no answer came back."""
    headers = {"Connection": "close"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unanswered(f"{method} {path} on port {port}: {exc!r}") from None
    finally:
        connection.close()
    parsed = json.loads(data) if data else None
    return Reply(response.status, parsed, {k.lower(): v for k, v in response.getheaders()})


def closed_loopback_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
