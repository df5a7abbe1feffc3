"""The fast page dump gives exactly what marshmallow's own dump gives, for every page schema."""

from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import Schema, fields

from api.auth.sessions import LoginSessionPageSchema
from api.pagination import Page, page_of, plain_dumper
from api.resources.notes import NotePageSchema
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


def test_a_schema_with_other_fields_keeps_marshmallows_dump():
    class Tagged(Schema):
        tags = fields.List(fields.String())

    assert plain_dumper(Tagged) is None
    assert page_of(Tagged).dump is Schema.dump
    assert page_of(Tagged)().dump(Page([{"tags": ["a"]}], 1, 20, 1))["items"] == [{"tags": ["a"]}]
