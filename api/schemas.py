"""Schemas shared by both blueprints: pagination in and out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_PAGE = 1_000_000


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
