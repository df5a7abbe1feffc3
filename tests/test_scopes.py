"""Scopes: every protected operation names one, and a token without it gets the 403 challenge.

The routes come from the app's URL map (``support.routes``), so a new route is checked here
without editing a list.
"""

from __future__ import annotations

import pytest
from support.routes import openapi_path, operations, route_map_app, scoped_routes

from api.credentials import scopes
from api.security import requires

# The contract's table where a path does not name its scope: the credential's own routes and
# the admins' audit log, as (prefix, scope for reads, scope for writes). Every other route is
# a resource's, and its path names the scope: ``GET /<resource>...`` needs
# ``<resource>:read``, any other method ``<resource>:write``.
CREDENTIAL_ROUTES = [
    ("/logout", "account", "account"),
    ("/sessions", "account", "account"),
    ("/password", "account", "account"),
    ("/tokens", "account", "account"),
    ("/events", "account", "account"),
    ("/email", "account", "account"),
    ("/passkeys", "account", "account"),
    ("/audit", "users:read", "users:read"),
    ("/reauthenticate", "account", "account"),
    ("/mfa", "mfa:enroll", "mfa:enroll"),
]
# Operations whose scope is not their path's: the account manages TOTP once it is on.
CONTRACT_EXCEPTIONS = {
    ("DELETE", "/mfa/totp"): "account",
    ("POST", "/mfa/recovery-codes"): "account",
}
# What the contract's table says every user's session carries, and an admin's besides.
CONTRACT_USER_SESSION = {"account", "mfa:enroll", "notes:read", "notes:write"}
CONTRACT_ADMIN_ONLY = {"users:read", "users:write"}


def _pat_scopes() -> list[str]:
    """Every scope a personal access token may ask for (an admin's may ask for all)."""
    return sorted(scopes.personal_scopes_allowed(is_admin=True))


def _declared_session_scopes(is_admin: bool) -> list[str]:
    """The scopes the declarations give a session of that role, read declaration by declaration."""
    return sorted(
        scope.name
        for scope in scopes.declared()
        if scope.holders is scopes.EVERY_USER or (is_admin and scope.holders is scopes.ADMINS)
    )


def _challenge(scope: str) -> str:
    return f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'


def _assert_insufficient_scope(response, scope: str) -> None:
    assert response.status_code == 403, (response.status_code, response.get_json())
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == _challenge(scope)
    assert response.get_json()["status"] == 403


def _contract_scope(method: str, path: str) -> str:
    if (method, path) in CONTRACT_EXCEPTIONS:
        return CONTRACT_EXCEPTIONS[(method, path)]
    for prefix, read, write in CREDENTIAL_ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return read if method == "GET" else write
    resource = path.split("/")[1]
    return f"{resource}:read" if method == "GET" else f"{resource}:write"


def test_every_protected_operation_names_the_scope_of_the_contracts_table():
    checked = 0
    for method, rule, access in operations(route_map_app()):
        if access is None:
            continue
        if rule.rule == "/me":
            assert access.scope is None  # any valid token may ask who it is
            continue
        assert access.scope in scopes.known()
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
    pat = make_token(admin, [s for s in _pat_scopes() if s != scope])
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
    pat = make_token(admin, _pat_scopes())
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
    user_scopes = client.get("/me", headers=alice.headers).get_json()["scopes"]
    admin_scopes = client.get("/me", headers=admin.headers).get_json()["scopes"]
    assert user_scopes == _declared_session_scopes(is_admin=False)
    assert admin_scopes == _declared_session_scopes(is_admin=True)
    assert set(user_scopes) >= CONTRACT_USER_SESSION
    assert not CONTRACT_ADMIN_ONLY & set(user_scopes)
    assert set(admin_scopes) >= CONTRACT_USER_SESSION | CONTRACT_ADMIN_ONLY


def test_a_session_tokens_scopes_follow_promotion_and_demotion_on_the_next_request(
    client, cli, admin, alice
):
    assert cli("users", "promote", "alice").exit_code == 0
    admin_scopes = _declared_session_scopes(is_admin=True)
    assert client.get("/me", headers=alice.headers).get_json()["scopes"] == admin_scopes
    assert client.get("/users", headers=alice.headers).status_code == 200
    assert cli("users", "demote", "alice").exit_code == 0
    user_scopes = _declared_session_scopes(is_admin=False)
    assert client.get("/me", headers=alice.headers).get_json()["scopes"] == user_scopes
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
        assert operation["security"] == [{"bearerAuth": []}, {"dpopAuth": []}]
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
    for scope in scopes.declared():
        assert f"- `{scope.name}`: {scope.description}" in scheme


# --- the registry --------------------------------------------------------------------------


@pytest.fixture
def scratch_registry(monkeypatch):
    """The scope registry as it stands, to declare into for one test and forget afterwards."""
    monkeypatch.setattr(scopes, "_declared", dict(scopes._declared))
    scopes._forget_derived_sets()
    yield
    monkeypatch.undo()
    scopes._forget_derived_sets()


def test_a_scope_cannot_be_declared_twice():
    before = scopes.declared()
    for scope in before:
        with pytest.raises(ValueError, match="declared twice"):
            scopes.declare(scope.name, "Again.", holders=scopes.EVERY_USER, personal=True)
    assert scopes.declared() == before


def test_a_scope_declared_later_counts_on_the_next_request(
    scratch_registry, client, alice, admin, make_token
):
    """The app is built and the sets remembered before the declaration, as when a resource
    module is imported after the ``auth`` blueprint."""
    assert client.get("/me", headers=alice.headers).status_code == 200
    with pytest.raises(ValueError, match="unknown scope"):
        requires("scratch:read")
    read = scopes.declare("scratch:read", "Read scratch.", holders=scopes.EVERY_USER, personal=True)
    audit = scopes.declare("scratch:audit", "Audit.", holders=scopes.ADMINS, personal=False)
    requires(read)
    requires(audit)
    assert {read, audit} <= scopes.known()
    assert scopes.description(read) == "Read scratch."
    assert read in scopes.granted_by_role(is_admin=False)
    assert audit not in scopes.granted_by_role(is_admin=False)
    assert audit in scopes.granted_by_role(is_admin=True)
    assert scopes.for_admins_only(audit) and not scopes.for_admins_only(read)
    assert read in scopes.personal_scopes_allowed(is_admin=False)
    assert audit not in scopes.personal_scopes_allowed(is_admin=True)
    assert read in client.get("/me", headers=alice.headers).get_json()["scopes"]
    assert audit in client.get("/me", headers=admin.headers).get_json()["scopes"]
    assert make_token(alice, [read]).scopes == [read]
    refused = client.post("/tokens", json={"name": "ci", "scopes": [audit]}, headers=admin.headers)
    assert refused.status_code == 422
    assert "scopes" in refused.get_json()["errors"]


@pytest.mark.parametrize("scope", _pat_scopes())
def test_a_personal_token_may_ask_for_each_personal_scope_and_the_document_describes_it(
    client, admin, make_token, scope
):
    """Every scope declared ``personal`` (by whichever resource module declares it)."""
    pat = make_token(admin, [scope])
    assert pat.scopes == [scope]
    assert client.get("/me", headers=pat.headers).get_json()["scopes"] == [scope]
    document = client.get("/openapi.json").get_json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]["description"]
    assert f"- `{scope}`: {scopes.description(scope)}" in scheme
    asked = document["components"]["schemas"]["NewPersonalToken"]["properties"]["scopes"]
    assert scope in asked["items"]["enum"]


@pytest.mark.parametrize(
    "scope", sorted(scope.name for scope in scopes.declared() if not scope.personal)
)
def test_a_personal_token_cannot_ask_for_a_scope_declared_for_sessions_only(client, admin, scope):
    response = client.post("/tokens", json={"name": "ci", "scopes": [scope]}, headers=admin.headers)
    assert response.status_code == 422
    assert "scopes" in response.get_json()["errors"]
    assert client.get("/tokens", headers=admin.headers).get_json()["total"] == 0
