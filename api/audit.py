"""The audit log: one JSON line per security event, never a password or a token."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from blinker import Namespace
from flask import Flask, current_app, has_app_context, has_request_context

from .client_info import client_address
from .security import caller

log = logging.getLogger("tessera.audit")
# The longest a user-supplied string (a username that failed to log in) is kept in a line.
MAX_FIELD_LENGTH = 64
# Sent with ``record`` once an event is logged, by the app it happened in (the metrics count it).
event_recorded = Namespace().signal("tessera.audit-event")


def audit(
    event: str,
    outcome: str = "success",
    *,
    user_id: int | None = None,
    session_id: str | None = None,
    **fields: Any,
) -> None:
    """Log ``event`` with its outcome, user id, session id and client address, plus ``fields``.

    Callers pass ids (``user_id``, ``session_id``), never secrets. Values are JSON-encoded
    with ``ensure_ascii``, so a hostile username (CR, LF, U+2028) cannot start a new line.
    """
    record = {
        "time": datetime.now(UTC).isoformat(),
        "event": event,
        "outcome": outcome,
        "user_id": user_id,
        "session_id": session_id,
        "client": client_address() if has_request_context() else "cli",
        **fields,
    }
    actor = _actor_id()
    if actor is not None and actor != user_id:
        record["actor_id"] = actor
    log.info(json.dumps(record, default=str, ensure_ascii=True))
    if has_app_context():
        event_recorded.send(current_app._get_current_object(), record=record)


def _actor_id() -> int | None:
    """Return the id of the user the request authenticated as, without loading one."""
    if not has_request_context():
        return None
    principal = caller()
    return principal.id if principal is not None else None


def clip(text: str) -> str:
    """Return user-supplied ``text`` cut to a length safe to log."""
    return text[:MAX_FIELD_LENGTH]


class _StderrHandler(logging.StreamHandler):
    """Write to whatever ``sys.stderr`` is when a line is logged, not when the app started."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def init_app(app: Flask) -> None:
    """Make sure audit lines reach a handler.

    Under gunicorn (or ``flask run``) nothing configures the root logger, and the logger's
    level would be the root's WARNING, so INFO lines went nowhere (Python's last-resort
    handler drops them). When the deployment has configured logging (a handler on the root or
    on ``tessera.audit``), lines go there; otherwise each line, already a whole JSON record,
    goes to stderr, where gunicorn's error log and any process supervisor collect it.
    """
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.handlers and not logging.getLogger().handlers:
        log.addHandler(_StderrHandler())
