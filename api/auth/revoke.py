"""``POST /revoke``: anyone who finds a leaked token can end it (RFC 7009's idea).

No authentication: holding the token is the proof. The answer is 204 whatever the token
was, valid or not, live or ended, so it tells nothing about it.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from api.auth import blp
from api.http import examples
from api.http.client_info import request_origin
from api.services import revocation


class RevokeSchema(Schema):
    token = fields.String(
        required=True,
        metadata={
            "description": "An access, refresh or personal access token, an `mfa_token`, "
            "or anything.",
            "example": examples.REFRESH_TOKEN,
        },
    )


@blp.route("/revoke", methods=["POST"])
@blp.arguments(RevokeSchema)
@blp.response(204)
def revoke_token(body):
    """End the login session, personal access token or login's second step (`mfa_token`)
    that a token belongs to."""
    revocation.revoke_token(body["token"], origin=request_origin())
