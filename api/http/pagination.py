"""Pages of lists: the query arguments, the page's schema and the links to other pages.

Every list answers ``{"items", "page", "per_page", "total"}`` for ``?page=&per_page=``; the
page itself is the use case's (``api.services.pages``). Its answer links the first, previous,
next and last pages in an RFC 8288 ``Link`` header.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import request, url_for
from marshmallow import Schema, fields, validate

from api.http.dumping import plain_dumper
from api.http.query import view_query

MAX_PAGE = 1_000_000
MAX_PER_PAGE = 100
PAGE_ARGUMENTS = ("page", "per_page")
LINK_HEADER_DOC = {
    "Link": {
        "description": (
            'RFC 8288 links to the other pages of the list: `rel="first"` and `rel="last"` '
            'always, `rel="prev"` and `rel="next"` when there is such a page; each a '
            "relative reference with the same query, e.g. "
            '`</notes?page=2&per_page=20>; rel="next"`.'
        ),
        "schema": {"type": "string"},
    }
}


class PaginationSchema(Schema):
    """The query arguments of every list."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """Return the schema of a page of ``item_schema`` items.

    A page is the busiest thing the API dumps (20 items of five fields). When every field of
    the item schema is plain (``api.http.dumping``), the page dumps its items with a function
    derived from those fields, about four times faster than marshmallow's generic walk and
    equal to it (``tests/test_schemas.py``); the schema still validates nothing and documents
    all.
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
    page_schema.is_page = True
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


def is_page_schema(schema: Any) -> bool:
    """Tell whether ``schema`` (a class, an instance or None) is one ``page_of`` made."""
    return getattr(schema, "is_page", False) is True


def with_links(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a view that returns a page so that its answer carries the page's ``Link``."""

    @functools.wraps(view)
    def linked(*args: Any, **kwargs: Any) -> Any:
        page = view(*args, **kwargs)
        return page, {"Link": link_header(page.page, page.per_page, page.total)}

    return linked


def page_numbers(page: int, per_page: int, total: int) -> dict[str, int]:
    """Return the number of each page the page ``page`` links to, by relation.

    Past the end, ``prev`` is the last page: the one before with items.
    """
    last = min(max(1, (total + per_page - 1) // per_page), MAX_PAGE)
    numbers = {}
    if page < last:
        numbers["next"] = page + 1
    if page > 1:
        numbers["prev"] = min(page - 1, last)
    numbers["first"] = 1
    numbers["last"] = last
    return numbers


def link_header(page: int, per_page: int, total: int) -> str:
    """Return the ``Link`` header of a page of the list the request asked for.

    Each link is a relative reference made from the app's own route and the request's
    query: never from ``Host`` or ``X-Forwarded-Host``, which a client chooses (a link built
    from them would let a poisoned cache send others elsewhere).
    """
    query = {
        name: values for name, values in view_query(request).lists() if name not in PAGE_ARGUMENTS
    }
    links = (
        f'<{_page_url(query, number, per_page)}>; rel="{relation}"'
        for relation, number in page_numbers(page, per_page, total).items()
    )
    return ", ".join(links)


def _page_url(query: dict[str, list[str]], page: int, per_page: int) -> str:
    arguments = {**(request.view_args or {}), **query, "page": page, "per_page": per_page}
    return url_for(request.endpoint, **arguments)
