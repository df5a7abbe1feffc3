"""The fast dumps give exactly what marshmallow's own dump gives: every page, /me and a note."""

from datetime import UTC, datetime, timedelta

import pytest
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, fields

from api.auth.sessions import LoginSessionPageSchema
from api.http.dumping import dumped_plainly, plain_dumper
from api.http.pagination import Page, page_of
from api.resources.me import MeSchema
from api.resources.notes import NotePageSchema, NoteSchema
from api.resources.users import UserPageSchema

WHEN = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC)


class Row:
    """An object read by attribute, as ORM rows are."""

    def __init__(self, **values):
        self.__dict__.update(values)


NOTES = [
    {"id": n, "title": f"t{n}", "body": 'é\n"x"', "created_at": WHEN, "updated_at": WHEN}
    for n in range(1, 4)
]
USERS = [
    Row(
        id=1,
        username="alice",
        is_admin=True,
        is_active=True,
        mfa_enabled=True,
        created_at=WHEN,
        last_login_at=None,
    ),
    Row(
        id=2,
        username="bob",
        is_admin=False,
        is_active=False,
        mfa_enabled=False,
        created_at=WHEN,
        last_login_at=WHEN + timedelta(days=1),
        password_hash="$argon2id$never-dumped",
    ),
]
SESSIONS = [
    {"id": "abc", "created_at": WHEN, "last_used_at": WHEN, "user_agent": "", "current": True}
]


@pytest.mark.parametrize(
    ("schema", "items"),
    [(NotePageSchema, NOTES), (UserPageSchema, USERS), (LoginSessionPageSchema, SESSIONS)],
)
def test_fast_page_dump_equals_marshmallows(schema, items):
    page = Page(items, 2, 20, 57)
    fast = schema().dump(page)
    assert fast == Schema.dump(schema(), page)
    assert fast["items"] and "password_hash" not in str(fast)


def test_every_page_schema_takes_the_fast_path():
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
                scopes=("account", "notes:read"),
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
