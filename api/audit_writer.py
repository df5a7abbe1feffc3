"""The audit trail: each security event is one row of ``audit_events`` and one JSON line.

Row and line are made from one record, so they always agree; the line carries the row's id.

An event that records a change joins the change's transaction: ``audit()`` adds its row to
``db.session``, and the service's one commit writes the change and the event together. The
line waits on the session until that commit succeeds (the ``after_commit`` hook logs it); when
the transaction ends any other way, the line is dropped with the row. So no change goes without
its event, and no row or line tells of a change that was rolled back.

An event with no change to go with it (a refused attempt, an unreachable rate-limit store)
must outlive the refusal: ``audit(..., refused=True)`` writes it at once. The use case has only
read by then, so the event ends that transaction on the request's own connection; should the
session hold changes, the event goes in a transaction of its own on another connection.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session, SessionTransaction

from api.database import db
from api.models import AuditEvent, utcnow
from api.origin import Origin

log = logging.getLogger("tessera.audit")
# The longest a user-supplied string (a username that failed to log in) is kept in an event.
MAX_FIELD_LENGTH = 64
CLIENT_LENGTH = 64  # what the database keeps: an IPv6 address needs 45
# Every event has these; its own fields may not take their names.
COLUMNS = frozenset(c.name for c in AuditEvent.__table__.columns) - {"fields"}
# Where the session keeps its uncommitted events until the transaction ends.
_PENDING = "tessera.audit.pending"
# Sent with ``record`` (the line's fields) once an event is written and logged, by the app it
# happened in (the metrics count it): never for an event that was rolled back.
event_recorded = Namespace().signal("tessera.audit-event")


def audit(
    event: str,
    outcome: str = "success",
    *,
    origin: Origin,
    user_id: int | None = None,
    session_id: str | None = None,
    refused: bool = False,
    **fields: Any,
) -> None:
    """Record ``event`` with its outcome, user, session, plus ``fields``; the actor and the
    client are the ``origin``'s, which the use case was handed (never read from a request).

    The event joins the current transaction and is written by the caller's commit, or with
    ``refused`` (nothing changes with it) at once on its own; call that before the use case
    writes anything, since on SQLite a second writer waits for the first. Callers pass ids,
    never secrets. The line is JSON with ``ensure_ascii``, so a hostile username (CR, LF,
    U+2028) cannot start a new line.
    """
    record = _record(event, outcome, origin, user_id, session_id, fields)
    if refused and _holds_changes(db.session):
        with db.engine.begin() as connection:
            result = connection.execute(sa.insert(AuditEvent.__table__), record)
        _publish(result.inserted_primary_key[0], record)
        return
    row = AuditEvent(**record)
    db.session.add(row)
    db.session.info.setdefault(_PENDING, []).append((row, record))
    if refused:
        # The use case has only read so far: its transaction ends here, with the event, on
        # the connection it holds. One connection a request, even when refusing: behind a
        # pooler in transaction mode, a second one could wait for a server forever.
        db.session.commit()


def _holds_changes(session: Session) -> bool:
    """Tell whether the session has ORM changes a commit would write."""
    return bool(session.new or session.dirty or session.deleted)


def _record(
    event: str,
    outcome: str,
    origin: Origin,
    user_id: int | None,
    session_id: str | None,
    fields: dict,
) -> dict[str, Any]:
    hiding = COLUMNS & fields.keys()
    if hiding:
        raise TypeError(f"audit fields may not be named {', '.join(sorted(hiding))}")
    return {
        "time": utcnow(),
        "event": event,
        "outcome": outcome,
        "user_id": user_id,
        "actor_id": origin.actor_id,
        "session_id": session_id,
        "client": _storable(origin.address, CLIENT_LENGTH),
        "user_agent": origin.user_agent,
        # Through JSON and back: the row keeps exactly what the line shows.
        "fields": json.loads(json.dumps(fields, default=str)),
    }


def _publish(event_id: int, record: dict[str, Any]) -> None:
    """Log the line of a written event (its columns, then its own fields beside them); signal it."""
    columns = {name: value for name, value in record.items() if name != "fields"}
    line = {"id": event_id, **columns, "time": record["time"].isoformat(), **record["fields"]}
    log.info(json.dumps(line, ensure_ascii=True))
    if has_app_context():
        event_recorded.send(current_app._get_current_object(), record=line)


def clip(text: str) -> str:
    """Return user-supplied ``text`` cut to a length safe to log."""
    return text[:MAX_FIELD_LENGTH]


def _storable(text: str, length: int) -> str:
    """Return ``text`` cut to ``length``, NUL replaced: PostgreSQL cannot store it."""
    return text[:length].replace("\x00", "\ufffd")


def _log_committed(session: Session) -> None:
    """Log (and signal) the events this commit wrote."""
    for row, record in session.info.pop(_PENDING, ()):
        # The identity outlives the commit's expiry of the row: reading it costs no query. A
        # row that was added but never written (rolled back in a savepoint) has none.
        identity = sa.inspect(row).identity
        if identity is not None:
            _publish(identity[0], record)


def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    """Drop the lines of events whose transaction ended without a commit (it rolled back)."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


# On the session factory every app shares through ``db``; the state is each session's own.
sa.event.listen(db.session, "after_commit", _log_committed)
sa.event.listen(db.session, "after_transaction_end", _drop_uncommitted)


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
    goes to stderr, where gunicorn's error log and any process supervisor collect it. A
    ``manage.py`` command's lines go there too, never into the output it prints on stdout.
    """
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.handlers and not logging.getLogger().handlers:
        log.addHandler(_StderrHandler())
