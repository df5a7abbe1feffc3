"""``POST /login`` and ``POST /refresh``: credentials in, a token pair out."""

from __future__ import annotations

from dataclasses import asdict

from marshmallow import Schema, fields, validate

from ..client_info import current_client
from ..fields import Password
from ..services import sessions
from ..views import raises
from . import blp


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=256))
    password = Password(required=True)


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    refresh_expires_in = fields.Integer(required=True)


@blp.route("/login", methods=["POST"])
@raises(401, 429)
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
def login(credentials):
    """Log in with a username and password; get an access and a refresh token."""
    pair = sessions.authenticate(credentials["username"], credentials["password"], current_client())
    return asdict(pair)


@blp.route("/refresh", methods=["POST"])
@raises(401)
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
def refresh(body):
    """Spend a refresh token for a new access and refresh token of the same session."""
    return asdict(sessions.refresh(body["refresh_token"]))
