"""``/logout`` and ``/sessions``: the caller's login sessions."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields

from api.auth import blp
from api.credentials.scopes import ACCOUNT
from api.http.client_info import request_origin
from api.http.pagination import PaginationSchema, page_of
from api.security import requires
from api.services import sessions


class LoginSessionSchema(Schema):
    id = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True)
    user_agent = fields.String(required=True)
    current = fields.Boolean(required=True)
    dpop_bound = fields.Boolean(
        required=True,
        metadata={"description": "Whether its tokens work only with DPoP proofs of its key."},
    )


LoginSessionPageSchema = page_of(LoginSessionSchema)


@blp.route("/logout", methods=["POST"])
@requires(ACCOUNT)
@blp.response(204)
def logout():
    """End the session in use: its tokens stop working at once."""
    sessions.logout(current_user.id, current_user.session_id, origin=request_origin(current_user))


@blp.route("/sessions", methods=["GET"])
@requires(ACCOUNT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, LoginSessionPageSchema)
def list_sessions(pagination):
    """List the caller's live sessions, newest first; ``current`` marks the one in use."""
    return sessions.live_sessions(
        current_user.id, current_user.session_id, pagination["page"], pagination["per_page"]
    )


@blp.route("/sessions/<string:session_id>", methods=["DELETE"])
@requires(ACCOUNT)
@blp.response(204)
def end_session(session_id):
    """End one of the caller's sessions."""
    sessions.end_session(current_user.id, session_id, origin=request_origin(current_user))


@blp.route("/sessions", methods=["DELETE"])
@requires(ACCOUNT)
@blp.response(204)
def end_all_sessions():
    """End every session of the caller, the one in use too."""
    sessions.end_all_sessions(current_user.id, origin=request_origin(current_user))
