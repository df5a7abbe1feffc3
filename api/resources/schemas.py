from marshmallow import Schema, fields, validate

from ..schemas import USERNAME_PATTERN, NewPassword, PartialUpdateSchema, page_of


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


class NoteUpdateSchema(PartialUpdateSchema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    body = fields.String(validate=validate.Length(max=10_000))


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            USERNAME_PATTERN, error="Must be 3 to 64 letters, digits, '.', '_' or '-'."
        ),
    )
    password = NewPassword(required=True)
    is_admin = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_login_at = fields.DateTime(dump_only=True, allow_none=True)


class UserUpdateSchema(PartialUpdateSchema):
    is_active = fields.Boolean(truthy={True}, falsy={False})
    is_admin = fields.Boolean(truthy={True}, falsy={False})
    password = NewPassword()


NotePageSchema = page_of(NoteSchema)
UserPageSchema = page_of(UserSchema)
