"""User administration: GET/POST /users, PATCH/DELETE /users/<id>, and the last-admin rule."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.accounts import PASSWORD

from api.database import db
from api.errors import Conflict
from api.models import LoginSession, Note, User
from api.origin import CLI
from api.services import accounts

NEW_PASSWORD = "a different long passphrase"
USER_FIELDS = {
    "id",
    "username",
    "is_admin",
    "email",
    "is_active",
    "mfa_enabled",
    "created_at",
    "last_login_at",
}


def _count(app, model, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model).filter_by(**where)
        return db.session.scalar(query)


def _user(app, user_id: int) -> User | None:
    with app.app_context():
        return db.session.get(User, user_id)


def _login_status(client, password: str = PASSWORD) -> int:
    return client.post("/login", json={"username": "alice", "password": password}).status_code


def _works(client, login) -> tuple[int, int]:
    """Return the statuses of GET /me with the access token and of POST /refresh."""
    me = client.get("/me", headers=login.headers).status_code
    refresh = client.post("/refresh", json={"refresh_token": login.refresh_token}).status_code
    return me, refresh


# GET /users


def test_list_users_pages_through_every_user_oldest_first(client, admin, make_user):
    for name in ("ann", "ben", "cat", "dan"):
        make_user(name)
    first = client.get("/users?page=1&per_page=2", headers=admin.headers)
    assert first.status_code == 200
    body = first.get_json()
    assert (body["page"], body["per_page"], body["total"]) == (1, 2, 5)
    assert [u["username"] for u in body["items"]] == ["root", "ann"]
    assert set(body["items"][0]) == USER_FIELDS
    assert body["items"][0]["is_admin"] is True and body["items"][0]["is_active"] is True
    assert body["items"][0]["last_login_at"].endswith("+00:00")
    assert body["items"][1]["last_login_at"] is None
    third = client.get("/users?page=3&per_page=2", headers=admin.headers).get_json()
    assert [u["username"] for u in third["items"]] == ["dan"]


def test_list_users_defaults_to_twenty_a_page_and_past_the_end_is_empty(client, admin):
    body = client.get("/users", headers=admin.headers).get_json()
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 1)
    past = client.get("/users?page=9", headers=admin.headers)
    assert past.status_code == 200
    assert past.get_json()["items"] == [] and past.get_json()["total"] == 1


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=101", "page=x"])
def test_list_users_refuses_bad_pagination(client, admin, query):
    response = client.get(f"/users?{query}", headers=admin.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert set(response.get_json()["errors"]) <= {"page", "per_page"}


def test_list_users_never_shows_a_password_hash(client, admin):
    text = client.get("/users", headers=admin.headers).get_data(as_text=True)
    assert "argon2" not in text and "password" not in text


# POST /users


def test_create_user_returns_the_user_who_can_then_log_in(client, admin):
    response = client.post(
        "/users", json={"username": "carol", "password": PASSWORD}, headers=admin.headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == USER_FIELDS
    assert (body["username"], body["is_admin"], body["is_active"]) == ("carol", False, True)
    assert response.headers["Location"].endswith("/users")
    login = client.post("/login", json={"username": "carol", "password": PASSWORD})
    assert login.status_code == 200


def test_create_admin_gives_admin_rights(client, admin, login):
    body = {"username": "dana", "password": PASSWORD, "is_admin": True}
    assert client.post("/users", json=body, headers=admin.headers).status_code == 201
    assert client.get("/users", headers=login("dana").headers).status_code == 200


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice"])
def test_create_user_with_a_taken_name_is_409_whatever_the_case(app, client, admin, alice, taken):
    response = client.post(
        "/users", json={"username": taken, "password": PASSWORD}, headers=admin.headers
    )
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert "taken" in response.get_json()["detail"]
    assert _count(app, User) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "password": PASSWORD}, "username"),
        ({"username": "bad name", "password": PASSWORD}, "username"),
        ({"username": "carol", "password": "short"}, "password"),
        ({"username": "carol", "password": "password"}, "password"),
        # 7 code points as sent, though 11 once NFKC spells out each one-half sign
        ({"username": "carol", "password": "sev\u00bdn\u00bd!"}, "password"),
        ({"username": "carol"}, "password"),
        ({"username": "carol", "password": PASSWORD, "is_active": False}, "is_active"),
        ({"username": "carol", "password": PASSWORD, "is_admin": "yes"}, "is_admin"),
        ({"username": "carol", "password": PASSWORD, "password_hash": "x"}, "password_hash"),
    ],
)
def test_create_user_refuses_invalid_fields_and_creates_nobody(app, client, admin, body, field):
    response = client.post("/users", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert _count(app, User) == 1


# PATCH /users/<id>


def test_deactivating_a_user_ends_their_sessions_and_stops_their_logins(client, admin, alice):
    response = client.patch(
        f"/users/{alice.user_id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.get_json()["is_active"] is False
    assert _works(client, alice) == (401, 401)
    assert _login_status(client) == 401


def test_reactivating_a_user_lets_them_log_in_again(client, admin, alice):
    url = f"/users/{alice.user_id}"
    client.patch(url, json={"is_active": False}, headers=admin.headers)
    assert client.patch(url, json={"is_active": True}, headers=admin.headers).status_code == 200
    assert _login_status(client) == 200


def test_setting_a_password_ends_the_users_sessions(client, admin, login, alice):
    other = login("alice")
    response = client.patch(
        f"/users/{alice.user_id}", json={"password": NEW_PASSWORD}, headers=admin.headers
    )
    assert response.status_code == 200
    assert "password" not in response.get_json()
    assert _works(client, alice) == (401, 401)
    assert _works(client, other) == (401, 401)
    assert _login_status(client) == 401
    login("alice", NEW_PASSWORD)


def test_promoting_and_demoting_take_effect_on_the_next_request(client, admin, alice):
    url = f"/users/{alice.user_id}"
    assert client.get("/users", headers=alice.headers).status_code == 403
    client.patch(url, json={"is_admin": True}, headers=admin.headers)
    assert client.get("/users", headers=alice.headers).status_code == 200
    client.patch(url, json={"is_admin": False}, headers=admin.headers)
    assert client.get("/users", headers=alice.headers).status_code == 403


def test_promoting_a_user_keeps_their_sessions(client, admin, alice):
    client.patch(f"/users/{alice.user_id}", json={"is_admin": True}, headers=admin.headers)
    assert _works(client, alice) == (200, 200)


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "mallory"}, {"is_active": "no"}, {"password": "short"}, {"id": 9}],
)
def test_update_user_refuses_invalid_bodies_and_changes_nothing(app, client, admin, alice, body):
    response = client.patch(f"/users/{alice.user_id}", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.get_json()["errors"]
    assert _works(client, alice) == (200, 200)


def test_update_or_delete_of_an_unknown_user_is_404(client, admin):
    patch = client.patch("/users/999", json={"is_admin": True}, headers=admin.headers)
    assert patch.status_code == 404
    assert client.delete("/users/999", headers=admin.headers).status_code == 404


# DELETE /users/<id>


def test_deleting_a_user_removes_their_notes_and_sessions(app, client, admin, alice, bob):
    for title in ("one", "two"):
        client.post("/notes", json={"title": title}, headers=alice.headers)
    client.post("/notes", json={"title": "bob's"}, headers=bob.headers)
    response = client.delete(f"/users/{alice.user_id}", headers=admin.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert _user(app, alice.user_id) is None
    assert _count(app, Note, owner_id=alice.user_id) == 0
    assert _count(app, LoginSession, user_id=alice.user_id) == 0
    assert _works(client, alice) == (401, 401)
    assert _count(app, Note, owner_id=bob.user_id) == 1
    assert client.get("/notes", headers=bob.headers).get_json()["total"] == 1


# Who may


ADMIN_CALLS = [
    ("GET", "/users", None),
    ("POST", "/users", {"username": "carol", "password": PASSWORD}),
    ("PATCH", "/users/{id}", {"is_admin": True}),
    ("DELETE", "/users/{id}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_a_non_admin_gets_403_on_every_admin_endpoint(app, client, alice, bob, method, path, body):
    url = path.format(id=bob.user_id)
    response = client.open(url, method=method, json=body, headers=alice.headers)
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"] == "admin rights required"
    scope = "users:read" if method == "GET" else "users:write"
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
    )
    assert _count(app, User) == 2
    assert _works(client, bob) == (200, 200)
    assert not _user(app, alice.user_id).is_admin


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_admin_endpoints_without_a_token_get_401(client, alice, method, path, body):
    url = path.format(id=alice.user_id)
    response = client.open(url, method=method, json=body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


# The last active admin


@pytest.mark.parametrize(
    ("method", "body", "verb"),
    [
        ("PATCH", {"is_admin": False}, "demote"),
        ("PATCH", {"is_active": False}, "deactivate"),
        ("DELETE", None, "delete"),
    ],
)
def test_the_last_active_admin_cannot_be_removed(app, client, admin, make_user, method, body, verb):
    make_user("sleeper", is_admin=True, is_active=False)  # an inactive admin does not count
    url = f"/users/{admin.user_id}"
    response = client.open(url, method=method, json=body, headers=admin.headers)
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    detail = response.get_json()["detail"]
    assert detail.startswith(f"cannot {verb}") and "last active admin" in detail
    root = _user(app, admin.user_id)
    assert root.is_admin and root.is_active
    assert _works(client, admin) == (200, 200)


def test_an_admin_can_step_down_when_another_active_admin_remains(app, client, admin, make_user):
    make_user("deputy", is_admin=True)
    response = client.patch(
        f"/users/{admin.user_id}", json={"is_admin": False}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.get_json()["is_admin"] is False
    assert client.get("/users", headers=admin.headers).status_code == 403


def test_the_last_admin_rule_holds_when_a_change_also_sets_the_password(app, client, admin):
    # Only the CLI may set the last admin's password (an admin never sets their own here).
    with app.app_context():
        root = accounts.get_user("root")
        body = {"is_active": False, "password": NEW_PASSWORD}
        with pytest.raises(Conflict):
            accounts.update_user(root, body, origin=CLI)
    assert _works(client, admin) == (200, 200)
    login = {"username": "root", "password": PASSWORD}
    assert client.post("/login", json=login).status_code == 200


@pytest.mark.parametrize("args", [("demote",), ("deactivate",), ("delete", "--yes")])
def test_the_cli_refuses_to_remove_the_last_active_admin(app, client, cli, admin, args):
    result = cli("users", args[0], "root", *args[1:])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot ")
    assert "last active admin" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    root = _user(app, admin.user_id)
    assert root.is_admin and root.is_active
    assert _works(client, admin) == (200, 200)
