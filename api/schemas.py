"""Schemas and fields shared by both blueprints: pagination, new passwords, partial updates."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

MAX_PAGE = 1_000_000
USERNAME_PATTERN = r"^[A-Za-z0-9._-]{3,64}$"


class NewPassword(fields.String):
    """A password being set. The rules that need the configuration or the username are the
    service's (``check_new_password``); the OpenAPI document shows the configured minimum."""

    def __init__(self, **kwargs) -> None:
        super().__init__(load_only=True, validate=validate.Length(max=1024), **kwargs)


class PartialUpdateSchema(Schema):
    """A PATCH body: any of the fields, but at least one (``minProperties: 1`` in the docs)."""

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(f"Give at least one of {', '.join(self.fields)}.", "_schema")


class PaginationSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """Return the schema of a page of ``item_schema`` items."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
        },
        name=f"{item_schema.__name__.removesuffix('Schema')}Page",
    )


class ProblemSchema(Schema):
    """RFC 9457 problem details, the shape of every error."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())
