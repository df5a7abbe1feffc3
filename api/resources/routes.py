"""The caller's account, their notes, and user administration. Views stay thin."""

from __future__ import annotations

from functools import wraps

from flask import url_for
from flask_login import current_user, login_required

from ..blueprint import Blueprint
from ..errors import Forbidden
from ..schemas import PaginationSchema
from ..services import accounts, notes
from .schemas import (
    MeSchema,
    NotePageSchema,
    NoteSchema,
    NoteUpdateSchema,
    UserPageSchema,
    UserSchema,
    UserUpdateSchema,
)

blp = Blueprint("resources", __name__, description="The caller's account, notes, and users.")


def admin_required(view):
    """Let only admins through; others get 403 (they are authenticated, just not allowed)."""

    @wraps(view)
    @login_required
    def checked(*args, **kwargs):
        if not current_user.is_admin:
            raise Forbidden("admin rights required")
        return view(*args, **kwargs)

    checked.admin_only = True  # read by the OpenAPI document: 403 on admin operations
    return checked


@blp.route("/me", methods=["GET"])
@login_required
@blp.response(200, MeSchema)
def get_me():
    """Return the caller's account."""
    return current_user


@blp.route("/notes", methods=["GET"])
@login_required
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, NotePageSchema)
def list_notes(pagination):
    """List the caller's notes, newest first."""
    return notes.list_notes(current_user.id, pagination["page"], pagination["per_page"])


@blp.route("/notes", methods=["POST"])
@login_required
@blp.arguments(NoteSchema)
@blp.response(201, NoteSchema)
def create_note(body):
    """Create a note."""
    note = notes.create_note(current_user.id, body["title"], body["body"])
    return note, 201, {"Location": url_for("resources.get_note", note_id=note.id)}


@blp.route("/notes/<id:note_id>", methods=["GET"])
@login_required
@blp.response(200, NoteSchema)
def get_note(note_id):
    """Return one of the caller's notes."""
    return notes.get_note(current_user.id, note_id)


@blp.route("/notes/<id:note_id>", methods=["PATCH"])
@login_required
@blp.arguments(NoteUpdateSchema)
@blp.response(200, NoteSchema)
def update_note(changes, note_id):
    """Change the title or body of one of the caller's notes."""
    return notes.update_note(current_user.id, note_id, changes)


@blp.route("/notes/<id:note_id>", methods=["DELETE"])
@login_required
@blp.response(204)
def delete_note(note_id):
    """Delete one of the caller's notes."""
    notes.delete_note(current_user.id, note_id)


@blp.route("/users", methods=["GET"])
@admin_required
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, UserPageSchema)
def list_users(pagination):
    """List every user (admins only)."""
    return accounts.list_users(pagination["page"], pagination["per_page"])


@blp.route("/users", methods=["POST"])
@admin_required
@blp.arguments(UserSchema)
@blp.response(201, UserSchema)
def create_user(body):
    """Create a user (admins only); a taken name is 409."""
    user = accounts.create_user(body["username"], body["password"], body["is_admin"])
    return user, 201, {"Location": url_for("resources.list_users")}


@blp.route("/users/<id:user_id>", methods=["PATCH"])
@admin_required
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
def update_user(changes, user_id):
    """Activate, deactivate, promote, demote or set the password of a user (admins only)."""
    return accounts.update_user(accounts.user_by_id(user_id), changes)


@blp.route("/users/<id:user_id>", methods=["DELETE"])
@admin_required
@blp.response(204)
def delete_user(user_id):
    """Delete a user with their notes and sessions (admins only)."""
    accounts.delete_user(accounts.user_by_id(user_id))
