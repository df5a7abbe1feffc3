"""``/users``: user administration, for admins."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user
from marshmallow import Schema, fields

from api.credentials import scopes
from api.errors import Forbidden
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.email_fields import EmailAddress
from api.http.fields import NewPassword, PartialUpdateSchema, StrictBoolean, Username
from api.http.pagination import PaginationSchema, page_of
from api.resources import blp
from api.security import requires
from api.services import accounts, invitations

USERS_READ = scopes.declare(
    "users:read",
    "List and read user accounts (admins).",
    holders=scopes.ADMINS,
    personal=True,
)
USERS_WRITE = scopes.declare(
    "users:write",
    "Create, change and delete user accounts (admins).",
    holders=scopes.ADMINS,
    personal=True,
)


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = Username(required=True, metadata={"example": examples.NEW_USERNAME})
    password = NewPassword(required=True, metadata={"example": examples.NEW_PASSWORD})
    is_admin = StrictBoolean(load_default=False, metadata={"example": False})
    email = EmailAddress(
        load_default=None,
        allow_none=True,
        metadata={"description": "Mailed a link; unverified until its owner follows it."},
    )
    is_active = fields.Boolean(dump_only=True)
    mfa_enabled = fields.Boolean(dump_only=True, metadata={"description": "Whether TOTP is on."})
    created_at = fields.DateTime(dump_only=True)
    last_login_at = fields.DateTime(dump_only=True, allow_none=True)


class UserUpdateSchema(PartialUpdateSchema):
    is_active = StrictBoolean(metadata={"example": True})
    is_admin = StrictBoolean(metadata={"example": False})
    password = NewPassword(metadata={"example": examples.NEW_PASSWORD})
    email = EmailAddress(allow_none=True)
    # One change at a time: every field at once would also set a password.
    json_schema_example = {"is_active": True}


UserPageSchema = page_of(UserSchema)


@blp.route("/users", methods=["GET"])
@requires(USERS_READ)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, UserPageSchema)
def list_users(pagination):
    """List every user (admins only)."""
    return accounts.list_users(pagination["page"], pagination["per_page"])


@blp.route("/users", methods=["POST"])
@requires(USERS_WRITE)
@raises(409)
@blp.arguments(UserSchema)
@blp.response(201, UserSchema)
def create_user(body):
    """Create a user (admins only); a taken name is 409."""
    user = accounts.create_user(
        body["username"],
        body["password"],
        body["is_admin"],
        origin=request_origin(current_user),
        email=body["email"],
    )
    return user, 201, {"Location": url_for("resources.list_users")}


class InvitationSchema(Schema):
    email = EmailAddress(required=True)
    is_admin = StrictBoolean(load_default=False, metadata={"example": False})


@blp.route("/users/invite", methods=["POST"])
@requires(USERS_WRITE)
@raises(409, 429)
@blp.arguments(InvitationSchema)
@blp.response(202)
def invite_user(body):
    """Mail an invitation to open an account (admins only); an address in use is 409."""
    invitations.invite(body["email"], body["is_admin"], origin=request_origin(current_user))


@blp.route("/users/<id:user_id>", methods=["GET"])
@requires(USERS_READ)
@blp.response(200, UserSchema)
def get_user(user_id):
    """Return one user (admins only)."""
    return accounts.user_by_id(user_id)


@blp.route("/users/<id:user_id>", methods=["PATCH"])
@requires(USERS_WRITE)
@raises(403, 409)
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
def update_user(changes, user_id):
    """Activate, deactivate, promote, demote or set the password of a user (admins only).

    A password is set only for another user and only with a session's token: one's own
    changes at `POST /password`, with the current one, and no personal access token sets any
    (403, nothing changed).
    """
    if "password" in changes and current_user.token_id is not None:
        raise Forbidden("a personal access token cannot set a password: use a login session")
    user = accounts.user_by_id(user_id)
    return accounts.update_user(user, changes, origin=request_origin(current_user))


@blp.route("/users/<id:user_id>", methods=["DELETE"])
@requires(USERS_WRITE)
@raises(409)
@blp.response(204)
def delete_user(user_id):
    """Delete a user with their notes and sessions (admins only)."""
    accounts.delete_user(accounts.user_by_id(user_id), origin=request_origin(current_user))
