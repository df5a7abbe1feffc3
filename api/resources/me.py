"""``GET /me``: who the token belongs to."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields

from api.http.dumping import dumped_plainly
from api.resources import blp
from api.security import requires


@dumped_plainly
class MeSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    is_admin = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    email = fields.String(required=True, allow_none=True)
    email_verified = fields.Boolean(required=True)
    scopes = fields.List(
        fields.String(), required=True, metadata={"description": "The token's scopes, sorted."}
    )
    token_type = fields.String(
        required=True,
        metadata={"description": "`DPoP`: bound to a DPoP key (RFC 9449); else `Bearer`."},
    )


@blp.route("/me", methods=["GET"])
@requires()
@blp.response(200, MeSchema)
def get_me():
    """Return the caller's account."""
    return current_user._get_current_object()  # the Principal itself, for the plain dump
