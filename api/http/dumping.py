"""Dumping by schema, fast: a function derived from a schema whose every field is plain.

marshmallow's generic dump walks each field's machinery (attribute lookup, hooks, error
handling) for every value. When every field of a schema is a plain conversion of a present
value, a dumper made once from the fields gives the same dictionary several times faster.
Schemas keep their fields, so they still load, validate and document as before
(``tests/test_schemas.py`` checks the fast dump equals marshmallow's).

The dictionaries then become JSON text through the app's ``JSONProvider``: Flask's own, keys
in the order the schema gives them, with its encoder made once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, fields

from api.http.fields import StrictBoolean, StrictInteger, Username

S = TypeVar("S", bound=type[Schema])


def _isoformat(value: datetime) -> str:
    return value.isoformat()


# Field types whose dump is one conversion of a present value (None stays None). The strict
# fields differ from marshmallow's in what they load only.
_PLAIN_CONVERSIONS: dict[type[fields.Field], Callable[[Any], Any]] = {
    fields.Integer: int,
    fields.String: str,
    fields.Boolean: bool,
    StrictBoolean: bool,
    StrictInteger: int,
    Username: str,
}


def _conversion(field: fields.Field) -> Callable[[Any], Any] | None:
    """Return how ``field`` dumps a present value, or None if it is not plain."""
    if type(field) is fields.DateTime and field.format in (None, "iso"):
        return _isoformat
    if type(field) is fields.List:
        convert = _conversion(field.inner)
        if convert is None:
            return None
        return lambda values: [None if value is None else convert(value) for value in values]
    return _PLAIN_CONVERSIONS.get(type(field))


def plain_dumper(schema: type[Schema]) -> Callable[[Any], dict[str, Any]] | None:
    """Return a function dumping one object as ``schema`` would, or None if a field is not plain.

    Plain: Integer, String, Boolean and ISO DateTime fields, and Lists of them, under their
    own names (no ``attribute``, no ``data_key``).
    """
    plan = []
    for name, field in schema().dump_fields.items():
        convert = _conversion(field)
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


def dumped_plainly(schema: S) -> S:
    """Return ``schema`` with a fast ``dump`` of one object, or ``schema`` itself if not plain.

    Use it as a class decorator on a response schema. A dump of many objects, or by an
    instance made with ``only`` or ``exclude``, still takes marshmallow's own way.
    """
    dump_one = plain_dumper(schema)
    if dump_one is None:
        return schema

    def dump(self: Schema, obj: Any, *, many: bool | None = None) -> Any:
        if many or self.many or self.only is not None or self.exclude:
            return schema.dump(self, obj, many=many)
        return dump_one(obj)

    attributes = {"dump": dump, "__doc__": schema.__doc__, "__module__": schema.__module__}
    return type(schema.__name__, (schema,), attributes)


# What Flask's ``JSONProvider.response`` asks ``dumps`` for, out of debug mode.
_COMPACT = {"separators": (",", ":")}


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, keys in the order they were put in, with the encoder of its responses
    made once: ``json.dumps`` given any option builds a new encoder on every call."""

    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self.compact_encoder = json.JSONEncoder(
            default=self.default,
            ensure_ascii=self.ensure_ascii,
            sort_keys=self.sort_keys,
            separators=_COMPACT["separators"],
        )

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == _COMPACT:
            return self.compact_encoder.encode(obj)
        return super().dumps(obj, **kwargs)


def init_app(app: Flask) -> None:
    """Make the app's JSON answers with ``JSONProvider``."""
    app.json = JSONProvider(app)
