"""The layers import downward only, read from the source with ``ast``.

The core (``api/credentials``, ``api/services``, ``api/origin.py``, ``api/models.py``,
``api/audit_writer.py``) is handed plain values: it reads no request, no ``g`` and no
Flask-Login, and imports nothing of the HTTP side, the security layer, the blueprints, the
operations endpoints or the CLI. Credentials know nothing of the use cases built on them.
Importing ``flask.current_app`` (the configuration) and ``api.database`` is allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import api

PACKAGE = Path(api.__file__).resolve().parent

CORE = ("api.credentials", "api.services", "api.origin", "api.models", "api.audit_writer")
# What the core may not import: the request's globals, Flask-Login, and the layers above it.
REQUEST_GLOBALS = frozenset(
    {"flask.request", "flask.g", "flask.globals.request", "flask.globals.g"}
)
ABOVE_THE_CORE = (
    "flask_login",
    "api.http",
    "api.security",
    "api.auth",
    "api.resources",
    "api.operations",
    "api.commands",
)
# What credentials may not import besides: the use cases built on them.
ABOVE_CREDENTIALS = ("api.services",)


def module_name(path: Path) -> str:
    """Return the dotted name of the module at ``path`` under the ``api`` package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_within(name: str, prefix: str) -> bool:
    """Tell whether the dotted ``name`` is ``prefix`` or something inside it."""
    return name == prefix or name.startswith(prefix + ".")


def imported_names(module: str, source: str) -> Iterator[tuple[int, str]]:
    """Yield each name ``source`` imports, dotted in full (``from flask import g`` is
    ``flask.g``), with its line; and each ``flask.request`` or ``flask.g`` it reaches through
    ``import flask``. Imports under ``if TYPE_CHECKING:`` count: they are dependencies too."""
    package = module if module == "api" or _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "flask"
        ):
            yield node.lineno, f"flask.{node.attr}"


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """Return the module an ``ImportFrom`` names, relative ones resolved from ``package``."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def forbidden_for(module: str) -> tuple[str, ...]:
    """Return the prefixes ``module`` may not import (none outside the core)."""
    if is_within(module, "api.credentials"):
        return ABOVE_THE_CORE + ABOVE_CREDENTIALS
    if any(is_within(module, core) for core in CORE):
        return ABOVE_THE_CORE
    return ()


def violations(module: str, source: str) -> list[str]:
    """Return what ``module`` imports against the layering, one line each."""
    prefixes = forbidden_for(module)
    if not prefixes:
        return []
    return [
        f"{module}:{line} imports {name}"
        for line, name in imported_names(module, source)
        if name in REQUEST_GLOBALS or any(is_within(name, prefix) for prefix in prefixes)
    ]


def modules() -> list[tuple[str, Path]]:
    return sorted((module_name(path), path) for path in PACKAGE.rglob("*.py"))


def test_the_core_imports_nothing_above_it():
    found = [
        violation
        for module, path in modules()
        for violation in violations(module, path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_every_layer_of_the_core_is_walked():
    walked = {module for module, _ in modules() if forbidden_for(module)}
    for core in CORE:
        assert any(is_within(module, core) for module in walked), core
    assert "api.services.sessions" in walked
    assert "api.credentials.failed_attempts" in walked
    assert "api.http.client_info" not in walked  # the HTTP side may read the request


@pytest.mark.parametrize(
    ("module", "source", "named"),
    [
        ("api.services.notes", "from flask import request", "flask.request"),
        ("api.services.notes", "from flask import current_app, g", "flask.g"),
        ("api.services.notes", "import flask\nflask.g.get('x')", "flask.g"),
        ("api.services.notes", "from flask_login import current_user", "flask_login"),
        ("api.services.notes", "import flask_login", "flask_login"),
        ("api.services.notes", "from api.http.client_info import request_origin", "api.http"),
        ("api.services.notes", "from api import security", "api.security"),
        ("api.services.notes", "from ..resources import notes", "api.resources"),
        ("api.origin", "from api.auth import blp", "api.auth"),
        ("api.models", "from api.operations import metrics", "api.operations"),
        ("api.audit_writer", "from api.commands import users", "api.commands"),
        ("api.credentials.passwords", "from api.services import accounts", "api.services"),
        (
            "api.services.notes",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from api.security import X",
            "api.security",
        ),
    ],
)
def test_a_forbidden_import_is_caught(module, source, named):
    found = violations(module, source)
    assert found, source
    assert all(named in violation for violation in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("api.services.notes", "from flask import current_app"),
        ("api.services.notes", "from api.database import db"),
        ("api.services.notes", "from api.credentials import scopes"),
        ("api.services.notes", "from api.services.pages import Page"),
        ("api.credentials.scopes", "from api.audit_writer import audit"),
        ("api.http.client_info", "from flask import request"),
        ("api.security.guards", "from flask_login import current_user"),
    ],
)
def test_what_the_core_may_import_passes(module, source):
    assert violations(module, source) == []
