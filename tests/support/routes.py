"""The app's routes, read from its URL map: never a hand-kept list."""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Iterator
from functools import cache

from flask import Flask
from marshmallow import Schema
from werkzeug.routing import Rule

from api import create_app
from api.security import Access, access_of

# A value that matches each converter the app uses, for a path that reaches the view.
SAMPLE_VALUES = {"id": "1", "int": "1", "string": "abc", "default": "abc", "path": "abc"}
_PLACEHOLDER = re.compile(r"<(?:(?P<converter>[^:<>()]+)(?:\([^)]*\))?:)?(?P<name>[^:<>]+)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@cache
def route_map_app() -> Flask:
    """An app built only to read its routes (no database is touched)."""
    instance = tempfile.mkdtemp(prefix="tessera-routes-")
    return create_app(
        {"SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": "sqlite://"},
        instance_path=instance,
    )


def example_path(rule: Rule) -> str:
    """Return a path that ``rule`` matches, a sample value in each placeholder."""

    def sample(match: re.Match) -> str:
        return SAMPLE_VALUES[match.group("converter") or "default"]

    return _PLACEHOLDER.sub(sample, rule.rule)


def openapi_path(rule: Rule) -> str:
    """Return the rule as the OpenAPI document spells it: ``/notes/{note_id}``."""
    return _PLACEHOLDER.sub(lambda match: "{" + match.group("name") + "}", rule.rule)


def operations(app: Flask) -> Iterator[tuple[str, Rule, Access | None]]:
    """Yield (method, rule, access) for every operation of the app."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods))):
        access = access_of(app.view_functions[rule.endpoint])
        for method in sorted(rule.methods - IGNORED_METHODS):
            yield method, rule, access


def example_operations(app: Flask | None = None) -> list[tuple[str, str, Access | None]]:
    """Return (method, example path, access) for every operation of the app."""
    app = app or route_map_app()
    return [(method, example_path(rule), access) for method, rule, access in operations(app)]


def protected_routes(app: Flask | None = None) -> list[tuple[str, str]]:
    """Return (method, example path) for every operation behind a guard."""
    return [(method, path) for method, path, access in example_operations(app) if access]


def scoped_routes(app: Flask | None = None) -> list[tuple[str, str, str]]:
    """Return (method, example path, scope) for every operation that names a scope."""
    return [
        (method, path, access.scope)
        for method, path, access in example_operations(app)
        if access is not None and access.scope is not None
    ]


def answer_schemas(app: Flask | None = None, status: str = "200") -> list[type[Schema]]:
    """Return each schema class the app's document gives an operation's ``status`` answer.

    Read from the document the app serves, each ``$ref`` turned back into the class the
    document was made from (the marshmallow plugin's record of the schemas it named).
    """
    app = app or route_map_app()
    api = app.extensions["tessera.api"]
    classes = {name: key[0] for key, name in api.ma_plugin.converter.refs.items()}
    document = api.spec.to_dict()
    named = set()
    for path_item in document["paths"].values():
        for key, operation in path_item.items():
            if key == "parameters":  # a path item's own key, beside its operations
                continue
            for content in operation["responses"].get(status, {}).get("content", {}).values():
                if "$ref" in content["schema"]:
                    named.add(content["schema"]["$ref"].rsplit("/", 1)[-1])
    return [classes[name] for name in sorted(named)]
