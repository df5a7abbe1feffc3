"""``POST /signup`` and ``POST /signup/verify``: opening an account by email, under
``SIGNUP_POLICY``, or with an invitation."""

from __future__ import annotations

import functools

from flask import jsonify, request
from marshmallow import Schema, ValidationError, fields, validates_schema

from api.auth import blp
from api.errors import Forbidden
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.email_fields import EmailAddress
from api.http.fields import NewPassword, Username
from api.http.json_body import InvalidBody, parse_json_object, read_body
from api.resources.users import UserSchema
from api.services import signup

SIGNUP_ANSWER = (
    "If the sign-up can go ahead, a link to finish it was mailed to the address given; "
    "otherwise that mailbox was told why."
)


class SignupSchema(Schema):
    username = Username(required=True, metadata={"example": examples.NEW_USERNAME})
    password = NewPassword(required=True, metadata={"example": examples.NEW_PASSWORD})
    email = EmailAddress()
    invite_token = fields.String(
        metadata={"description": "From an invitation mail.", "example": examples.MAIL_TOKEN}
    )
    json_schema_example = {
        "username": examples.NEW_USERNAME,
        "email": "bob@example.com",
        "password": examples.NEW_PASSWORD,
    }

    @validates_schema
    def one_way_in(self, data, **kwargs):
        if ("email" in data) == ("invite_token" in data):
            raise ValidationError("Send either email or invite_token.", "email")


class TokenSchema(Schema):
    token = fields.String(
        required=True,
        metadata={"description": "From the mail's link.", "example": examples.MAIL_TOKEN},
    )


class AcceptedSchema(Schema):
    detail = fields.String(required=True)


def _open_or_invited(view):
    """Refuse a sign-up without an invitation unless the policy is open, before the body is
    validated: a closed server tells nothing about what a sign-up would need."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not _names_an_invitation() and not signup.signup_allowed():
            raise Forbidden(signup.CLOSED)
        return view(*args, **kwargs)

    return guarded


def _names_an_invitation() -> bool:
    """Tell whether the body holds an ``invite_token``, read through the input boundary: a
    body that the boundary refuses names none (the view then refuses it as any other)."""
    if not request.is_json:
        return False
    try:
        return "invite_token" in parse_json_object(read_body(request))
    except InvalidBody:
        return False


@blp.route("/signup", methods=["POST"])
@_open_or_invited
@raises(403, 409, 429)
@blp.arguments(SignupSchema)
@blp.response(202, AcceptedSchema)
@blp.alt_response(201, schema=UserSchema, description="With an invite_token: the account.")
def sign_up(body):
    """Sign up: a link is mailed to the address (the same answer whatever happens next); with
    an `invite_token`, the account is made at once."""
    origin = request_origin()
    if "invite_token" in body:
        user = signup.accept_invitation(
            body["invite_token"], body["username"], body["password"], origin=origin
        )
        return jsonify(UserSchema().dump(user)), 201
    signup.request_signup(body["username"], body["email"], body["password"], origin=origin)
    return {"detail": SIGNUP_ANSWER}


@blp.route("/signup/verify", methods=["POST"])
@raises(409)
@blp.arguments(TokenSchema)
@blp.response(201, UserSchema)
def verify_signup(body):
    """Finish a sign-up with the mailed token: the account now exists, its address verified."""
    return signup.verify_signup(body["token"], origin=request_origin())
