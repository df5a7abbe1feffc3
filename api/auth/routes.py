"""Logging in and out, refreshing, sessions and password change. Views stay thin."""

from __future__ import annotations

from dataclasses import asdict, replace

from flask_login import current_user, login_required

from ..blueprint import Blueprint
from ..clients import user_agent
from ..ratelimit import limit_failed_logins
from ..schemas import PaginationSchema
from ..services import sessions
from .schemas import (
    LoginSchema,
    LoginSessionPageSchema,
    PasswordChangeSchema,
    RefreshSchema,
    TokenPairSchema,
)

blp = Blueprint("auth", __name__, description="Log in, refresh tokens, manage sessions.")


@blp.route("/login", methods=["POST"])
@limit_failed_logins
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
def login(credentials):
    """Log in with a username and password; get an access and a refresh token."""
    pair = sessions.authenticate(credentials["username"], credentials["password"], user_agent())
    return asdict(pair)


@blp.route("/refresh", methods=["POST"])
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
def refresh(body):
    """Spend a refresh token for a new access and refresh token of the same session."""
    return asdict(sessions.refresh(body["refresh_token"]))


@blp.route("/logout", methods=["POST"])
@login_required
@blp.response(204)
def logout():
    """End the session in use: its tokens stop working at once."""
    sessions.logout(current_user.id, current_user.session_id)


@blp.route("/sessions", methods=["GET"])
@login_required
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, LoginSessionPageSchema)
def list_sessions(pagination):
    """List the caller's live sessions, newest first; ``current`` marks the one in use."""
    page = sessions.live_sessions(current_user.id, pagination["page"], pagination["per_page"])
    return replace(page, items=[_with_current_flag(s) for s in page.items])


def _with_current_flag(login_session) -> dict:
    return {
        "id": login_session.id,
        "created_at": login_session.created_at,
        "last_used_at": login_session.last_used_at,
        "user_agent": login_session.user_agent,
        "current": login_session.id == current_user.session_id,
    }


@blp.route("/sessions/<string:session_id>", methods=["DELETE"])
@login_required
@blp.response(204)
def end_session(session_id):
    """End one of the caller's sessions."""
    sessions.end_session(current_user.id, session_id)


@blp.route("/sessions", methods=["DELETE"])
@login_required
@blp.response(204)
def end_all_sessions():
    """End every session of the caller, the one in use too."""
    sessions.end_all_sessions(current_user.id)


@blp.route("/password", methods=["POST"])
@login_required
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
def change_password(body):
    """Change the password; every other session of the caller ends."""
    sessions.change_password(
        current_user.id, current_user.session_id, body["current_password"], body["new_password"]
    )
