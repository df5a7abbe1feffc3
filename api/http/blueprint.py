"""What views are made of: the Blueprint both API blueprints use, and the errors a view declares.

A view carries its whole contract in its decorators: ``@blp.arguments`` (what it takes),
``@blp.response`` (what it answers), a guard from ``security`` (who may call it) and
``@raises`` (the refusals its use case makes). The OpenAPI document reads all of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import flask_smorest
from flask_smorest.utils import resolve_schema_instance

from api.http import pagination
from api.http.query import ArgumentsParser

View = TypeVar("View", bound=Callable[..., Any])


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the strict parser, schemas built once and linked pages."""

    ARGUMENTS_PARSER = ArgumentsParser()

    def arguments(self, schema: Any, *args: Any, **kwargs: Any):
        """Declare a view's input schema, as flask-smorest does, built once for all requests.

        Given a schema class, webargs builds a new instance on every request (about a tenth of
        a small authenticated request); an instance is reused as it is.
        """
        return super().arguments(resolve_schema_instance(schema), *args, **kwargs)

    def response(self, status_code: int, schema: Any = None, **kwargs: Any):
        """Declare a view's answer, as flask-smorest does; a page also links its neighbours.

        Every list answers a page (``pagination.page_of``): its answer carries the RFC 8288
        ``Link`` header, and the document says so.
        """
        if not pagination.is_page_schema(schema):
            return super().response(status_code, schema, **kwargs)
        kwargs.setdefault("headers", pagination.LINK_HEADER_DOC)
        document = super().response(status_code, schema, **kwargs)
        return lambda view: document(pagination.with_links(view))


def import_views(package: str) -> None:
    """Import every module of the blueprint ``package``, so each registers its views.

    A new resource is a new module in the package; no list names it.
    """
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module.name}")


def raises(*statuses: int) -> Callable[[View], View]:
    """Declare the error statuses a view's use case answers beyond what its shape shows.

    A body, a query, a path id and a guard already tell the document their statuses (400,
    422, 404, 401, 403); this names the others: a taken name (409), a wrong password (403).
    """

    def mark(view: View) -> View:
        view.declared_errors = frozenset(statuses) | getattr(view, "declared_errors", frozenset())
        return view

    return mark


def unwrapped(view: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Yield ``view`` and every function it wraps, outermost first."""
    while view is not None:
        yield view
        view = getattr(view, "__wrapped__", None)


def declared_errors(view: Callable[..., Any]) -> frozenset[int]:
    """Return the statuses ``view`` declared with ``@raises``, at any depth."""
    found: frozenset[int] = frozenset()
    for layer in unwrapped(view):
        found |= getattr(layer, "declared_errors", frozenset())
    return found
