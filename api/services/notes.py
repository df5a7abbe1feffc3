"""Notes: each user sees and changes only their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, bindparam, select, update

from api.database import db
from api.errors import NotFound
from api.models import Note, User, utcnow
from api.services.pages import Page

# Listing notes is the busiest read after the token check, so its statement is built once,
# from the tables rather than the mapped classes, and run as plain Core: no ORM session to open
# and no Note objects to build for a page that is only serialised. The total rides along on
# every row, read from the owner's note counter (one row, where counting would read every note).
_NOTES = Note.__table__
_USERS = User.__table__
_COUNT_NOTES = select(_USERS.c.note_count).where(_USERS.c.id == bindparam("owner_id"))
_PAGE_OF_NOTES = (
    select(
        _NOTES.c.id,
        _NOTES.c.title,
        _NOTES.c.body,
        _NOTES.c.created_at,
        _NOTES.c.updated_at,
        _COUNT_NOTES.scalar_subquery().label("total"),
    )
    .where(_NOTES.c.owner_id == bindparam("owner_id"))
    .order_by(_NOTES.c.created_at.desc(), _NOTES.c.id.desc())
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)


def list_notes(owner_id: int, page: int, per_page: int) -> Page[RowMapping]:
    """Return one page of the owner's notes, newest first, as read-only rows.

    One statement; a page past the end has no row to carry the total, so it asks a second.
    """
    params = {"owner_id": owner_id, "limit": per_page, "offset": (page - 1) * per_page}
    with db.engine.connect() as connection:
        items = connection.execute(_PAGE_OF_NOTES, params).mappings().all()
        if items:
            total = items[0]["total"]
        else:
            total = connection.execute(_COUNT_NOTES, {"owner_id": owner_id}).scalar_one()
    return Page(list(items), page, per_page, total)


def create_note(owner_id: int, title: str, body: str = "") -> Note:
    """Create a note for its owner."""
    now = utcnow()
    note = Note(owner_id=owner_id, title=title, body=body, created_at=now, updated_at=now)
    db.session.add(note)
    _count_notes(owner_id, +1)
    db.session.commit()
    return note


def get_note(owner_id: int, note_id: int) -> Note:
    """Return the owner's note; anyone else's is NotFound, so its existence stays hidden."""
    note = db.session.scalar(select(Note).where(Note.id == note_id, Note.owner_id == owner_id))
    if note is None:
        raise NotFound("no such note")
    return note


def update_note(owner_id: int, note_id: int, changes: dict[str, Any]) -> Note:
    """Change the title or body of the owner's note."""
    note = get_note(owner_id, note_id)
    for field in ("title", "body"):
        if field in changes:
            setattr(note, field, changes[field])
    note.updated_at = utcnow()
    db.session.commit()
    return note


def delete_note(owner_id: int, note_id: int) -> None:
    """Delete the owner's note."""
    db.session.delete(get_note(owner_id, note_id))
    _count_notes(owner_id, -1)
    db.session.commit()


def _count_notes(owner_id: int, change: int) -> None:
    """Move the owner's note counter in the current transaction (an atomic increment)."""
    db.session.execute(
        update(User).where(User.id == owner_id).values(note_count=User.note_count + change)
    )
