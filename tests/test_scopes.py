"""Scopes: every protected operation names one, and a token without it gets the 403 challenge.

The routes come from the app's URL map (``support.routes``), so a new route is checked here
without editing a list.
"""

from __future__ import annotations

import pytest
from support.routes import openapi_path, operations, route_map_app, scoped_routes

from api.credentials import scopes
from api.security import requires

PAT_SCOPES = sorted(scopes.PERSONAL)
USER_SESSION_SCOPES = ["account", "mfa:enroll", "notes:read", "notes:write"]
ADMIN_SESSION_SCOPES = sorted([*USER_SESSION_SCOPES, "users:read", "users:write"])

# The contract's table, as rules on the path: (prefix, scope for reads, scope for writes).
CONTRACT = [
    ("/notes", "notes:read", "notes:write"),
    ("/users", "users:read", "users:write"),
    ("/logout", "account", "account"),
    ("/sessions", "account", "account"),
    ("/password", "account", "account"),
    ("/tokens", "account", "account"),
    ("/events", "account", "account"),
    ("/audit", "users:read", "users:read"),
    ("/reauthenticate", "account", "account"),
    ("/mfa", "mfa:enroll", "mfa:enroll"),
]
# Operations whose scope is not their path's: the account manages TOTP once it is on.
CONTRACT_EXCEPTIONS = {
    ("DELETE", "/mfa/totp"): "account",
    ("POST", "/mfa/recovery-codes"): "account",
}


def _challenge(scope: str) -> str:
    return f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'


def _assert_insufficient_scope(response, scope: str) -> None:
    assert response.status_code == 403, (response.status_code, response.get_json())
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == _challenge(scope)
    assert response.get_json()["status"] == 403


def _contract_scope(method: str, path: str) -> str | None:
    if (method, path) in CONTRACT_EXCEPTIONS:
        return CONTRACT_EXCEPTIONS[(method, path)]
    for prefix, read, write in CONTRACT:
        if path == prefix or path.startswith(prefix + "/"):
            return read if method == "GET" else write
    raise AssertionError(f"{method} {path}: give this route a scope in the contract's table")


def test_every_protected_operation_names_the_scope_of_the_contracts_table():
    checked = 0
    for method, rule, access in operations(route_map_app()):
        if access is None:
            continue
        if rule.rule == "/me":
            assert access.scope is None  # any valid token may ask who it is
            continue
        assert access.scope in scopes.ALL
        assert access.scope == _contract_scope(method, rule.rule), (method, rule.rule)
        checked += 1
    assert checked >= 17


def test_a_view_cannot_ask_for_a_scope_that_does_not_exist():
    with pytest.raises(ValueError, match="unknown scope"):
        requires("notes:delete")


@pytest.mark.parametrize(("method", "path", "scope"), scoped_routes())
def test_a_token_without_the_routes_scope_gets_the_insufficient_scope_challenge(
    client, admin, make_token, method, path, scope
):
    """An admin's PAT with every scope a PAT can carry but the one the route needs."""
    pat = make_token(admin, [s for s in PAT_SCOPES if s != scope])
    response = client.open(path, method=method, json={}, headers=pat.headers)
    _assert_insufficient_scope(response, scope)


@pytest.mark.parametrize(
    ("method", "path", "scope"), [r for r in scoped_routes() if r[2] != "notes:read"]
)
def test_a_notes_read_token_gets_403_on_every_route_needing_another_scope(
    client, alice, make_token, method, path, scope
):
    pat = make_token(alice, ["notes:read"])
    response = client.open(path, method=method, json={}, headers=pat.headers)
    _assert_insufficient_scope(response, scope)


@pytest.mark.parametrize(
    ("method", "path", "scope"), [r for r in scoped_routes() if r[2] == "account"]
)
def test_no_personal_access_token_opens_an_account_route(
    client, admin, make_token, method, path, scope
):
    pat = make_token(admin, PAT_SCOPES)
    response = client.open(path, method=method, json={}, headers=pat.headers)
    _assert_insufficient_scope(response, "account")


@pytest.mark.parametrize(
    ("method", "path", "scope"), [r for r in scoped_routes() if r[2].startswith("users:")]
)
def test_a_non_admins_session_gets_403_on_every_users_route(client, alice, method, path, scope):
    response = client.open(path, method=method, json={}, headers=alice.headers)
    _assert_insufficient_scope(response, scope)
    assert response.get_json()["detail"] == "admin rights required"


def test_session_tokens_carry_the_scopes_of_the_users_role(client, alice, admin):
    assert client.get("/me", headers=alice.headers).get_json()["scopes"] == USER_SESSION_SCOPES
    assert client.get("/me", headers=admin.headers).get_json()["scopes"] == ADMIN_SESSION_SCOPES


def test_a_session_tokens_scopes_follow_promotion_and_demotion_on_the_next_request(
    client, cli, admin, alice
):
    assert cli("users", "promote", "alice").exit_code == 0
    assert client.get("/me", headers=alice.headers).get_json()["scopes"] == ADMIN_SESSION_SCOPES
    assert client.get("/users", headers=alice.headers).status_code == 200
    assert cli("users", "demote", "alice").exit_code == 0
    assert client.get("/me", headers=alice.headers).get_json()["scopes"] == USER_SESSION_SCOPES
    _assert_insufficient_scope(client.get("/users", headers=alice.headers), "users:read")


def test_me_needs_no_scope_and_shows_the_tokens_own(client, alice, make_token):
    pat = make_token(alice, ["notes:write"])
    me = client.get("/me", headers=pat.headers)
    assert me.status_code == 200
    assert me.get_json()["scopes"] == ["notes:write"]
    assert me.get_json()["username"] == "alice"


def test_a_scope_check_comes_before_the_body_is_read(app, client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    response = client.post("/notes", data="{not json", headers=pat.headers)
    _assert_insufficient_scope(response, "notes:write")
    assert client.get("/notes", headers=pat.headers).get_json()["total"] == 0


# --- the document ------------------------------------------------------------------------


def test_the_document_names_each_operations_scope_and_its_403(app, client):
    document = client.get("/openapi.json").get_json()
    named = 0
    for method, rule, access in operations(app):
        if access is None:
            continue
        operation = document["paths"][openapi_path(rule)][method.lower()]
        # OpenAPI 3.0: the list of an http scheme's requirement MUST be empty.
        assert operation["security"] == [{"bearerAuth": []}]
        if access.scope is None:
            assert "x-required-scope" not in operation
            assert "403" not in operation["responses"]
            continue
        assert operation["x-required-scope"] == access.scope, (method, rule.rule)
        assert f"Scope: `{access.scope}`." in operation["description"]
        assert "403" in operation["responses"], (method, rule.rule)
        named += 1
    assert named == len(scoped_routes(app))
    forbidden = document["components"]["responses"]["Forbidden"]
    assert "WWW-Authenticate" in forbidden["headers"]
    scheme = document["components"]["securitySchemes"]["bearerAuth"]["description"]
    for scope in scopes.ALL:
        assert f"`{scope}`" in scheme
