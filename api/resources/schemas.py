from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..schemas import page_of


class MeSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    is_admin = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class NoteSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body = fields.String(load_default="", validate=validate.Length(max=10_000))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class NoteUpdateSchema(Schema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    body = fields.String(validate=validate.Length(max=10_000))

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Give at least one of title, body.", "_schema")


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = fields.String(required=True, validate=validate.Length(min=3, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))
    is_admin = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_login_at = fields.DateTime(dump_only=True, allow_none=True)


class UserUpdateSchema(Schema):
    is_active = fields.Boolean(truthy={True}, falsy={False})
    is_admin = fields.Boolean(truthy={True}, falsy={False})
    password = fields.String(load_only=True, validate=validate.Length(max=1024))

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Give at least one of is_active, is_admin, password.", "_schema")


NotePageSchema = page_of(NoteSchema)
UserPageSchema = page_of(UserSchema)
