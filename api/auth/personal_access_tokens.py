"""``/tokens``: the caller's personal access tokens, for scripts and services.

Managing them needs the ``account`` scope, which only session tokens carry: a PAT can never
make, list or end PATs. Making one also needs a fresh login.
"""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate

from api.auth import blp
from api.credentials import scopes
from api.credentials.scopes import ACCOUNT
from api.http import examples
from api.http.client_info import request_origin
from api.http.fields import TokenLifetime
from api.http.pagination import PaginationSchema, page_of
from api.security import bearer_token, dpop, requires
from api.services import personal_access_tokens


class PersonalTokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True, attribute="scope_list")
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)
    dpop_bound = fields.Boolean(
        required=True,
        metadata={"description": "Whether the token works only with DPoP proofs of its key."},
    )


class CreatedPersonalTokenSchema(PersonalTokenSchema):
    token = fields.String(
        required=True, metadata={"description": "The token itself, shown only in this answer."}
    )


class PersonalScope(validate.Validator):
    """One of the scopes a personal access token may ask for, read from the registry when
    asked: a scope a resource declares after this module is imported still counts. The
    document lists ``choices`` as the field's enum; the service then applies the role."""

    error = "Must be one of: {choices}."

    @property
    def choices(self) -> list[str]:
        return sorted(scopes.personal_scopes_allowed(is_admin=True))

    def __call__(self, value: str) -> str:
        choices = self.choices
        if value not in choices:
            raise ValidationError(self.error.format(choices=", ".join(choices)))
        return value


class NewPersonalTokenSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"example": examples.PAT_NAME},
    )
    scopes = fields.List(
        fields.String(validate=PersonalScope()),
        required=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "`users:read` and `users:write` for admins only.",
            "example": examples.PAT_SCOPES,
        },
    )
    expires_in = TokenLifetime(
        metadata={
            "description": "Seconds; default `PERSONAL_TOKEN_DEFAULT_AGE` (30 days).",
            "example": examples.PAT_LIFETIME,
        }
    )


PersonalTokenPageSchema = page_of(PersonalTokenSchema)


@blp.route("/tokens", methods=["GET"])
@requires(ACCOUNT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, PersonalTokenPageSchema)
def list_personal_tokens(pagination):
    """List the caller's live personal access tokens, newest first; never a token."""
    return personal_access_tokens.list_personal_tokens(
        current_user.id, pagination["page"], pagination["per_page"]
    )


@blp.route("/tokens", methods=["POST"])
@requires(ACCOUNT, fresh=True)
@blp.arguments(NewPersonalTokenSchema)
@blp.response(201, CreatedPersonalTokenSchema)
def create_personal_token(body):
    """Make a personal access token; the token is in this answer and nowhere else.

    With a `DPoP` proof header the token is bound to the proof's key (RFC 9449).
    """
    key = dpop.token_endpoint_key(request, new_credential=True, bearer_token=bearer_token(request))
    created = personal_access_tokens.create_personal_token(
        current_user.id,
        body["name"],
        body["scopes"],
        body.get("expires_in"),
        origin=request_origin(current_user),
        dpop_jkt=key,
    )
    location = url_for("auth.get_personal_token", token_id=created.record.id)
    return created, 201, {"Location": location}


@blp.route("/tokens/<id:token_id>", methods=["GET"])
@requires(ACCOUNT)
@blp.response(200, PersonalTokenSchema)
def get_personal_token(token_id):
    """Return one of the caller's live personal access tokens (its record, not the token)."""
    return personal_access_tokens.get_personal_token(current_user.id, token_id)


@blp.route("/tokens/<id:token_id>", methods=["DELETE"])
@requires(ACCOUNT)
@blp.response(204)
def delete_personal_token(token_id):
    """End one of the caller's personal access tokens: it stops working at once."""
    personal_access_tokens.delete_personal_token(
        current_user.id, token_id, origin=request_origin(current_user)
    )
