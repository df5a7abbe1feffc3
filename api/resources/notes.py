"""``/notes``: each user's own notes."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user
from marshmallow import Schema, fields, validate

from api.credentials import scopes
from api.http import examples
from api.http.dumping import dumped_plainly
from api.http.fields import PartialUpdateSchema
from api.http.pagination import PaginationSchema, page_of
from api.resources import blp
from api.security import requires
from api.services import notes

NOTES_READ = scopes.declare(
    "notes:read", "Read the caller's notes.", holders=scopes.EVERY_USER, personal=True
)
NOTES_WRITE = scopes.declare(
    "notes:write",
    "Create, change and delete the caller's notes.",
    holders=scopes.EVERY_USER,
    personal=True,
)

TITLE = validate.Length(min=1, max=200)
BODY = validate.Length(max=10_000)


@dumped_plainly
class NoteSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String(required=True, validate=TITLE, metadata={"example": examples.NOTE_TITLE})
    body = fields.String(load_default="", validate=BODY, metadata={"example": examples.NOTE_BODY})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class NoteUpdateSchema(PartialUpdateSchema):
    title = fields.String(validate=TITLE, metadata={"example": examples.NOTE_TITLE})
    body = fields.String(validate=BODY, metadata={"example": examples.NOTE_BODY})


NotePageSchema = page_of(NoteSchema)


@blp.route("/notes", methods=["GET"])
@requires(NOTES_READ)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, NotePageSchema)
def list_notes(pagination):
    """List the caller's notes, newest first."""
    return notes.list_notes(current_user.id, pagination["page"], pagination["per_page"])


@blp.route("/notes", methods=["POST"])
@requires(NOTES_WRITE)
@blp.arguments(NoteSchema)
@blp.response(201, NoteSchema)
def create_note(body):
    """Create a note."""
    note = notes.create_note(current_user.id, body["title"], body["body"])
    return note, 201, {"Location": url_for("resources.get_note", note_id=note.id)}


@blp.route("/notes/<id:note_id>", methods=["GET"])
@requires(NOTES_READ)
@blp.response(200, NoteSchema)
def get_note(note_id):
    """Return one of the caller's notes."""
    return notes.get_note(current_user.id, note_id)


@blp.route("/notes/<id:note_id>", methods=["PATCH"])
@requires(NOTES_WRITE)
@blp.arguments(NoteUpdateSchema)
@blp.response(200, NoteSchema)
def update_note(changes, note_id):
    """Change the title or body of one of the caller's notes."""
    return notes.update_note(current_user.id, note_id, changes)


@blp.route("/notes/<id:note_id>", methods=["DELETE"])
@requires(NOTES_WRITE)
@blp.response(204)
def delete_note(note_id):
    """Delete one of the caller's notes."""
    notes.delete_note(current_user.id, note_id)
