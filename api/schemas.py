"""Schemas and fields shared by both blueprints: pagination, new passwords, partial updates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

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
    """Return the schema of a page of ``item_schema`` items.

    A page is the busiest thing the API dumps (20 items of five fields). When every field of
    the item schema is a plain conversion, the page dumps its items with a function derived
    from those fields, about four times faster than marshmallow's generic walk and equal to
    it (``tests/test_schemas.py``); the schema still validates nothing and documents all.
    """
    page_schema = Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
        },
        name=f"{item_schema.__name__.removesuffix('Schema')}Page",
    )
    dump_item = plain_dumper(item_schema)
    if dump_item is None:
        return page_schema

    def dump(self, page: Any, *, many: bool | None = None) -> Any:
        if many:
            return Schema.dump(self, page, many=many)
        return {
            "items": [dump_item(item) for item in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
        }

    return type(page_schema.__name__, (page_schema,), {"dump": dump})


def _isoformat(value: datetime) -> str:
    return value.isoformat()


# Field types whose dump is one conversion of a present value (None stays None).
_PLAIN_CONVERSIONS: dict[type[fields.Field], Callable[[Any], Any]] = {
    fields.Integer: int,
    fields.String: str,
    fields.Boolean: bool,
}


def plain_dumper(schema: type[Schema]) -> Callable[[Any], dict[str, Any]] | None:
    """Return a function dumping one object as ``schema`` would, or None if a field is not plain.

    Plain: Integer, String, Boolean and ISO DateTime fields, under their own names.
    """
    plan = []
    for name, field in schema().dump_fields.items():
        convert = _PLAIN_CONVERSIONS.get(type(field))
        if type(field) is fields.DateTime and field.format in (None, "iso"):
            convert = _isoformat
        if convert is None or field.attribute or field.data_key:
            return None
        plan.append((name, convert))

    def dump(obj: Any) -> dict[str, Any]:
        get = obj.__getitem__ if isinstance(obj, Mapping) else obj.__getattribute__
        out = {}
        for name, convert in plan:
            value = get(name)
            out[name] = None if value is None else convert(value)
        return out

    return dump


class ProblemSchema(Schema):
    """RFC 9457 problem details, the shape of every error."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())
