"""The fast dumps give exactly what marshmallow's own dump gives: every page, /me and a note.

The pages are the app's own: each schema its document gives a 200 answer that is a page.
"""

from datetime import UTC, datetime, timedelta

import pytest
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, fields
from support.routes import answer_schemas

from api.auth.sessions import LoginSessionPageSchema
from api.http.dumping import dumped_plainly, plain_dumper
from api.http.pagination import page_of
from api.resources.me import MeSchema
from api.resources.notes import NotePageSchema, NoteSchema
from api.resources.users import UserPageSchema
from api.services.pages import Page

WHEN = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC)


class Row:
    """An object read by attribute, as ORM rows are."""

    def __init__(self, **values):
        self.__dict__.update(values)


NOTES = [
    {"id": n, "title": f"t{n}", "body": 'é\n"x"', "created_at": WHEN, "updated_at": WHEN}
    for n in range(1, 4)
]
PAGE_FIELDS = {"items", "page", "per_page", "total"}
PAGE_SCHEMAS = [schema for schema in answer_schemas() if set(schema().fields) == PAGE_FIELDS]


def _item_schema(page_schema: type[Schema]) -> type[Schema]:
    return type(page_schema().fields["items"].inner.schema)


def _sample(field: fields.Field, n: int, none: bool):
    """A value for ``field``: the n-th of its kind, or None where the field allows it."""
    if none and field.allow_none:
        return None
    if isinstance(field, fields.DateTime):
        return WHEN + timedelta(days=n)
    if isinstance(field, fields.Boolean):
        return n % 2 == 0
    if isinstance(field, fields.Integer):
        return n
    if isinstance(field, fields.String):
        return f'é\n"x" {n}'
    if isinstance(field, fields.List):
        return [_sample(field.inner, n, none=False), _sample(field.inner, n + 1, none=False)]
    if isinstance(field, fields.Dict):
        return {"key": f"é {n}"}
    return None


def _items(page_schema: type[Schema], as_rows: bool) -> list:
    """Items for a page: full ones and ones with None wherever allowed, each with a secret
    attribute beside its fields that no dump may show."""
    dumped = _item_schema(page_schema)().dump_fields.values()
    items = []
    for n in range(3):
        values = {field.attribute or field.name: _sample(field, n, none=n == 2) for field in dumped}
        values["password_hash"] = "$argon2id$never-dumped"
        items.append(Row(**values) if as_rows else values)
    return items


def test_the_app_answers_pages():
    assert {NotePageSchema, UserPageSchema, LoginSessionPageSchema} <= set(PAGE_SCHEMAS)


@pytest.mark.parametrize("as_rows", [False, True], ids=["dicts", "rows"])
@pytest.mark.parametrize("schema", PAGE_SCHEMAS, ids=lambda schema: schema.__name__)
def test_fast_page_dump_equals_marshmallows(schema, as_rows):
    page = Page(_items(schema, as_rows), 2, 20, 57)
    fast = schema().dump(page)
    assert fast == Schema.dump(schema(), page)
    assert fast["items"] and "password_hash" not in str(fast)


@pytest.mark.parametrize("schema", PAGE_SCHEMAS, ids=lambda schema: schema.__name__)
def test_every_page_schema_whose_items_are_plain_takes_the_fast_path(schema):
    assert (schema.dump is not Schema.dump) == (plain_dumper(_item_schema(schema)) is not None)


def test_the_busiest_pages_take_the_fast_path():
    for schema in (NotePageSchema, UserPageSchema, LoginSessionPageSchema):
        assert schema.dump is not Schema.dump


@pytest.mark.parametrize(
    ("schema", "item"),
    [
        (
            MeSchema,
            Row(
                id=7,
                username="alice",
                is_admin=False,
                created_at=WHEN,
                email=None,
                email_verified=False,
                scopes=("account", "notes:read"),
                token_type="DPoP",
            ),
        ),
        (NoteSchema, NOTES[0]),
    ],
)
def test_fast_dump_of_one_object_equals_marshmallows(schema, item):
    assert schema.dump is not Schema.dump
    fast = schema().dump(item)
    assert fast == Schema.dump(schema(), item)
    assert schema().dump([item], many=True) == Schema.dump(schema(), [item], many=True)
    only = schema(only=("id",))
    assert only.dump(item) == {"id": item["id"] if isinstance(item, dict) else item.id}


def test_lists_of_plain_values_are_plain():
    class Tagged(Schema):
        tags = fields.List(fields.String())
        stamps = fields.List(fields.DateTime())

    item = {"tags": ["a", "é"], "stamps": [WHEN, None]}
    assert plain_dumper(Tagged)(item) == Tagged().dump(item)
    assert dumped_plainly(Tagged)().dump(item) == Tagged().dump(item)


def test_a_schema_with_other_fields_keeps_marshmallows_dump():
    class Tagged(Schema):
        tags = fields.Dict(keys=fields.String(), values=fields.String())

    assert plain_dumper(Tagged) is None
    assert dumped_plainly(Tagged) is Tagged
    assert page_of(Tagged).dump is Schema.dump
    assert page_of(Tagged)().dump(Page([{"tags": {"a": "b"}}], 1, 20, 1))["items"] == [
        {"tags": {"a": "b"}}
    ]


@pytest.mark.parametrize("debug", [False, True])
def test_json_answers_read_as_flask_s_own_keys_in_the_order_given(app, debug):
    value = {"z": 1, "a": [WHEN, "é\n"], "m": {"b": None, "a": True}}
    app.debug = debug
    ours = app.json.response(value).get_data(as_text=True)
    flasks = DefaultJSONProvider(app)
    flasks.sort_keys = False
    assert ours == flasks.response(value).get_data(as_text=True)
    assert ours.index('"z"') < ours.index('"a"') < ours.index('"m"')
