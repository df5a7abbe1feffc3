"""``GET /events``: the caller's own security log."""

from __future__ import annotations

from ..pagination import PaginationSchema
from ..resources.audit import AuditEventPageSchema
from ..scopes import ACCOUNT
from ..security import caller, requires
from ..services import audit_trail
from . import blp


@blp.route("/events", methods=["GET"])
@requires(ACCOUNT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, AuditEventPageSchema)
def list_events(pagination):
    """List the security events of the caller's account, newest first."""
    return audit_trail.user_events(caller().id, pagination["page"], pagination["per_page"])
