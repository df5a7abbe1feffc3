"""Audit events: ``GET /events``, the caller's own security log, and ``GET /audit``, every
user's events for admins, with filters. Both answer pages of one schema, which the CLI prints.
"""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from api.credentials.scopes import ACCOUNT
from api.http.fields import UTCTime
from api.http.pagination import PaginationSchema, page_of
from api.http.routing import MAX_ID
from api.resources import blp
from api.resources.users import USERS_READ
from api.security import requires
from api.services import audit_events

# Events are named in lower case with underscores (``login``, ``refresh_reuse``).
EVENT_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class AuditEventSchema(Schema):
    id = fields.Integer(required=True)
    time = fields.DateTime(required=True)
    event = fields.String(required=True)
    outcome = fields.String(required=True)
    user_id = fields.Integer(required=True, allow_none=True)
    actor_id = fields.Integer(required=True, allow_none=True)
    session_id = fields.String(required=True, allow_none=True)
    client = fields.String(required=True)
    user_agent = fields.String(required=True, allow_none=True)
    # Named apart from the class body's ``fields`` module; answered as ``fields``.
    event_fields = fields.Dict(
        keys=fields.String(), required=True, data_key="fields", attribute="fields"
    )


AuditEventPageSchema = page_of(AuditEventSchema)


class AuditQuerySchema(PaginationSchema):
    """The filters of ``GET /audit``, all optional; an event matches every one given."""

    user_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    event = fields.String(validate=validate.Regexp(EVENT_NAME, error="Not an event name."))
    since = UTCTime(metadata={"description": "Events at or after this time."})
    until = UTCTime(metadata={"description": "Events before this time."})


@blp.route("/events", methods=["GET"])
@requires(ACCOUNT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, AuditEventPageSchema)
def list_events(pagination):
    """List the security events of the caller's account, newest first."""
    return audit_events.user_events(current_user.id, pagination["page"], pagination["per_page"])


@blp.route("/audit", methods=["GET"])
@requires(USERS_READ)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditEventPageSchema)
def list_audit_events(query):
    """List every user's security events, newest first (admins only)."""
    page, per_page = query.pop("page"), query.pop("per_page")
    return audit_events.list_events(page, per_page, **query)
