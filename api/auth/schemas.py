from marshmallow import Schema, fields, validate

from ..schemas import NewPassword, page_of

_PASSWORD = validate.Length(min=1, max=1024)


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=256))
    password = fields.String(required=True, load_only=True, validate=_PASSWORD)


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    refresh_expires_in = fields.Integer(required=True)


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, load_only=True, validate=_PASSWORD)
    new_password = NewPassword(required=True)


class LoginSessionSchema(Schema):
    id = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True)
    user_agent = fields.String(required=True)
    current = fields.Boolean(required=True)


LoginSessionPageSchema = page_of(LoginSessionSchema)
