"""``/logout`` and ``/sessions``: the caller's login sessions."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.auth import blp
from api.credentials.scopes import ACCOUNT
from api.http.pagination import PaginationSchema, page_of
from api.security import caller, requires
from api.services import revocation, sessions


class LoginSessionSchema(Schema):
    id = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True)
    user_agent = fields.String(required=True)
    current = fields.Boolean(required=True)


LoginSessionPageSchema = page_of(LoginSessionSchema)


@blp.route("/logout", methods=["POST"])
@requires(ACCOUNT)
@blp.response(204)
def logout():
    """End the session in use: its tokens stop working at once."""
    principal = caller()
    revocation.logout(principal.id, principal.session_id)


@blp.route("/sessions", methods=["GET"])
@requires(ACCOUNT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, LoginSessionPageSchema)
def list_sessions(pagination):
    """List the caller's live sessions, newest first; ``current`` marks the one in use."""
    principal = caller()
    return sessions.live_sessions(
        principal.id, principal.session_id, pagination["page"], pagination["per_page"]
    )


@blp.route("/sessions/<string:session_id>", methods=["DELETE"])
@requires(ACCOUNT)
@blp.response(204)
def end_session(session_id):
    """End one of the caller's sessions."""
    revocation.end_session(caller().id, session_id)


@blp.route("/sessions", methods=["DELETE"])
@requires(ACCOUNT)
@blp.response(204)
def end_all_sessions():
    """End every session of the caller, the one in use too."""
    revocation.end_all_sessions(caller().id)
