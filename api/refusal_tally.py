"""Refusals that prove nothing: counted, and logged in aggregate, never one audit row each.

A token that fails its form, signature or expiry, or an attempt refused with 429, costs its
sender nothing: one client with no credentials sends hundreds a second. A row each would let
anyone fill the audit trail (and the disk under it) and bury the events that matter in it.
So such a refusal is announced (``refusal_counted``, which the metrics count by event and
reason) and logged as one line per event and reason per ``LOG_INTERVAL`` seconds in each
process, the line saying how many went unlogged since the one before. A refusal whose cause
the client paid for (a real session's token, a real account's wrong password) is an audit
row as ever (``audit_writer``).

The lines go to a child of the audit log, so they reach wherever its lines go; they carry no
``id``, since no row stands behind them. Reasons and events are the code's own words, never
the client's, so the kinds are few and each keeps a few bytes of state for the app's lifetime.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from blinker import Namespace
from flask import Flask, current_app

from api.models import utcnow
from api.origin import Origin

log = logging.getLogger("tessera.audit.refusals")
# At most one line per event and reason this often, per process.
LOG_INTERVAL = 60
EXTENSION = "tessera.refusal_tally"
# Sent by the app the refusal happened in, with ``event`` and ``reason``, for every refusal.
refusal_counted = Namespace().signal("tessera.refusal-counted")


@dataclass
class _Kind:
    logged_at: float
    unlogged: int = 0


class RefusalTally:
    """One app's record of when each kind of refusal was last logged, and how many since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, str], _Kind] = {}

    def note(self, event: str, reason: str, now: float) -> int | None:
        """Note one refusal at ``now``; return how many went unlogged before it when this
        one is to be logged, or None when it goes unlogged too."""
        with self._lock:
            kind = self._kinds.get((event, reason))
            if kind is not None and now - kind.logged_at < LOG_INTERVAL:
                kind.unlogged += 1
                return None
            self._kinds[(event, reason)] = _Kind(now)
            return 0 if kind is None else kind.unlogged


def tally(app: Flask) -> RefusalTally:
    """Return the app's tally, made on first use: each app keeps its own."""
    found = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions.setdefault(EXTENSION, RefusalTally())
    return found


def count_refusal(event: str, reason: str, *, origin: Origin, **fields: Any) -> None:
    """Count a refusal that proves nothing; log it unless one like it was logged lately.

    ``event`` and ``reason`` name the kind (and label the metric): fixed words of the code.
    ``fields`` go into the line only. Nothing is written to the database.
    """
    app = current_app._get_current_object()
    unlogged = tally(app).note(event, reason, time.time())
    if unlogged is not None:
        line = {
            "time": utcnow().isoformat(),
            "event": event,
            "outcome": "refused",
            "reason": reason,
            "client": origin.address[:64],
            "suppressed": unlogged,
            "log_interval": LOG_INTERVAL,
            **fields,
        }
        log.info(json.dumps(line, ensure_ascii=True, default=str))
    refusal_counted.send(app, event=event, reason=reason)
