"""Reading and pruning the audit trail: a user's own events, everyone's for admins and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Row, select

from api.audit_writer import audit
from api.database import db
from api.errors import Invalid
from api.models import AuditEvent, utcnow
from api.origin import Origin
from api.services.pages import Page, paginate

# Rows the CLI's listing holds in memory at once, however long the trail.
_STREAM_BATCH = 1000


def _matching(
    user_id: int | None, event: str | None, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """Return the conditions of every filter given: the user, the event, the time window."""
    table = AuditEvent.__table__
    conditions = []
    if user_id is not None:
        conditions.append(table.c.user_id == user_id)
    if event is not None:
        conditions.append(table.c.event == event)
    if since is not None:
        conditions.append(table.c.time >= since)
    if until is not None:
        conditions.append(table.c.time < until)
    return conditions


def user_events(user_id: int, page: int, per_page: int) -> Page[AuditEvent]:
    """Return one page of the events that name the user, newest first (their security log)."""
    return list_events(page, per_page, user_id=user_id)


def list_events(
    page: int,
    per_page: int,
    *,
    user_id: int | None = None,
    event: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEvent]:
    """Return one page of every user's events, newest first, narrowed by the filters given.

    ``since`` is inclusive and ``until`` exclusive, so consecutive windows never share an event.
    Each filter on its own has an index that ends in the id, so a page costs the same however
    long the trail.
    """
    query = select(AuditEvent).where(*_matching(user_id, event, since, until))
    return paginate(query.order_by(AuditEvent.id.desc()), page, per_page)


def all_events(
    user_id: int | None = None,
    event: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Row]:
    """Yield every matching event as a read-only row, newest first (the CLI's listing).

    Rows are fetched a batch at a time and no ORM object is kept, so a trail of millions of
    events is listed in the memory of one batch.
    """
    table = AuditEvent.__table__
    query = (
        select(table)
        .where(*_matching(user_id, event, since, until))
        .order_by(table.c.id.desc())
        .execution_options(yield_per=_STREAM_BATCH)
    )
    with db.engine.connect() as connection:
        yield from connection.execute(query)


def prune_events(older_than_days: int, *, origin: Origin) -> int:
    """Delete the events older than that many days; return how many. The pruning is an event."""
    if older_than_days < 1:
        raise Invalid("events can be pruned only when at least one day old")
    try:
        cutoff = utcnow() - timedelta(days=older_than_days)
    except OverflowError:
        deleted = 0  # a cutoff before the year 1: no event is that old
    else:
        events = AuditEvent.__table__
        deleted = db.session.execute(events.delete().where(events.c.time < cutoff)).rowcount
    audit("audit_pruned", origin=origin, events_deleted=deleted, older_than_days=older_than_days)
    db.session.commit()
    return deleted
