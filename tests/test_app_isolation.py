"""Two apps in one process share nothing: each its own document, counters and login manager.

And no module of the package reaches into a library's private attributes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.accounts import PASSWORD

from api import create_app
from api.database import db

PACKAGE = Path(__file__).resolve().parent.parent / "api"


@pytest.fixture
def second_app(config, tmp_path):
    """Another app in the same process, on the same database, configured otherwise."""
    prefix = f"{config.get('RATE_LIMIT_KEY_PREFIX', 'tessera')}-second"
    overrides = {
        "PASSWORD_MIN_LENGTH": 12,
        "LOGIN_RATE_LIMIT": "2 per minute",
        "RATE_LIMIT_KEY_PREFIX": prefix,
    }
    app = create_app({**config, **overrides}, instance_path=str(tmp_path / "second"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _password_minimum(document: dict) -> int:
    return document["components"]["schemas"]["User"]["properties"]["password"]["minLength"]


def test_each_app_serves_its_own_openapi_document(app, second_app):
    second = second_app.test_client().get("/openapi.json").get_json()
    first = app.test_client().get("/openapi.json").get_json()
    assert _password_minimum(first) == app.config["PASSWORD_MIN_LENGTH"] == 8
    assert _password_minimum(second) == 12


def _login(client, password: str) -> int:
    return client.post("/login", json={"username": "alice", "password": password}).status_code


def test_each_app_keeps_its_own_failed_login_counters(app, second_app, make_user):
    make_user("alice")
    first, second = app.test_client(), second_app.test_client()
    assert [_login(first, "wrong") for _ in range(2)] == [401, 401]
    assert [_login(second, "wrong") for _ in range(2)] == [401, 401]
    assert _login(second, PASSWORD) == 429  # the second app's limit: two a minute
    assert _login(first, PASSWORD) == 200  # the first's: ten a minute, two spent


def test_each_app_has_its_own_login_manager(app, second_app):
    assert app.login_manager is not second_app.login_manager


# Public by documentation despite its underscore: werkzeug's LocalProxy method that Flask's
# documentation tells signal senders to use (``current_app._get_current_object()``).
DOCUMENTED_PUBLIC = {"_get_current_object"}


def _private_attribute_uses(source: str) -> list[str]:
    """Return ``obj._name`` uses where ``obj`` is not ``self`` or ``cls`` (dunders allowed)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner in {"self", "cls"} or name in DOCUMENTED_PUBLIC:
            continue
        found.append(f"line {node.lineno}: .{name}")
    return found


def test_no_module_of_the_package_touches_a_private_attribute():
    offences = {
        str(path.relative_to(PACKAGE)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if (uses := _private_attribute_uses(path.read_text(encoding="utf-8")))
    }
    assert offences == {}
