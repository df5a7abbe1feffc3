"""Notes: each user sees and changes only their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..errors import NotFound
from ..extensions import db
from ..models import Note, utcnow
from . import Page, paginate


def list_notes(owner_id: int, page: int, per_page: int) -> Page[Note]:
    """Return one page of the owner's notes, newest first."""
    query = (
        select(Note)
        .where(Note.owner_id == owner_id)
        .order_by(Note.created_at.desc(), Note.id.desc())
    )
    return paginate(query, page, per_page)


def create_note(owner_id: int, title: str, body: str = "") -> Note:
    """Create a note for its owner."""
    now = utcnow()
    note = Note(owner_id=owner_id, title=title, body=body, created_at=now, updated_at=now)
    db.session.add(note)
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
    db.session.commit()
