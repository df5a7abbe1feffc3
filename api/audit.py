"""The audit log: one JSON line per security event, never a password or a token."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import has_request_context

from .clients import client_address

log = logging.getLogger("tessera.audit")


def audit(event: str, outcome: str = "success", **fields: Any) -> None:
    """Log ``event`` with its outcome, the client address and ids given in ``fields``.

    Callers pass ids (``user_id``, ``session_id``), never secrets. Values are JSON-encoded,
    so a hostile username cannot forge a line.
    """
    record = {
        "time": datetime.now(UTC).isoformat(),
        "event": event,
        "outcome": outcome,
        "client": client_address() if has_request_context() else "cli",
        **fields,
    }
    log.info(json.dumps(record, default=str, ensure_ascii=True))
