"""GET/DELETE /sessions, POST /password and POST /logout: a user's view of their logins."""

from support.accounts import PASSWORD

NEW_PASSWORD = "a whole new passphrase"


def test_sessions_lists_exactly_the_live_ones_newest_first(clock, client, login, alice):
    clock.shift(1)
    second = login("alice", **{"User-Agent": "curl/8"})
    clock.shift(1)
    third = login("alice")
    client.post("/logout", headers=third.headers)
    body = client.get("/sessions", headers=second.headers).get_json()
    assert body["total"] == 2
    items = body["items"]
    assert [item["current"] for item in items] == [True, False]
    assert items[0]["user_agent"] == "curl/8"
    assert set(items[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "user_agent",
        "current",
        "dpop_bound",
    }
    assert items[0]["dpop_bound"] is False
    assert items[0]["created_at"] > items[1]["created_at"]


def test_sessions_leave_out_expired_ones(clock, client, login, alice):
    clock.shift(30 * 24 * 3600 - 300)
    fresh = login("alice")
    clock.shift(301)  # alice's first session is past its 30 days
    assert client.get("/sessions", headers=fresh.headers).get_json()["total"] == 1


def test_sessions_never_show_another_users(client, alice, bob):
    ids = [s["id"] for s in client.get("/sessions", headers=alice.headers).get_json()["items"]]
    bobs = [s["id"] for s in client.get("/sessions", headers=bob.headers).get_json()["items"]]
    assert len(ids) == len(bobs) == 1 and ids != bobs


def test_ending_one_session_stops_its_tokens_only(client, login, alice):
    other = login("alice")
    items = client.get("/sessions", headers=alice.headers).get_json()["items"]
    other_id = next(s["id"] for s in items if not s["current"])
    assert client.delete(f"/sessions/{other_id}", headers=alice.headers).status_code == 204
    assert client.get("/me", headers=other.headers).status_code == 401
    assert client.post("/refresh", json={"refresh_token": other.refresh_token}).status_code == 401
    assert client.get("/me", headers=alice.headers).status_code == 200


def test_ending_another_users_session_is_404(client, alice, bob):
    bobs = client.get("/sessions", headers=bob.headers).get_json()["items"][0]["id"]
    response = client.delete(f"/sessions/{bobs}", headers=alice.headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert client.get("/me", headers=bob.headers).status_code == 200


def test_ending_an_unknown_or_ended_session_is_404(client, login, alice):
    assert client.delete("/sessions/nope", headers=alice.headers).status_code == 404
    other = login("alice")
    client.post("/logout", headers=other.headers)
    items = client.get("/sessions", headers=alice.headers).get_json()["items"]
    assert len(items) == 1


def test_ending_all_sessions_ends_the_current_one_too(client, login, alice):
    other = login("alice")
    assert client.delete("/sessions", headers=alice.headers).status_code == 204
    assert client.get("/me", headers=alice.headers).status_code == 401
    assert client.get("/me", headers=other.headers).status_code == 401


def test_logout_is_204_with_no_body_and_ends_refresh_too(client, alice):
    response = client.post("/logout", headers=alice.headers)
    assert response.status_code == 204 and response.data == b""
    assert client.post("/refresh", json={"refresh_token": alice.refresh_token}).status_code == 401


def _change(client, login, current, new):
    return client.post(
        "/password",
        json={"current_password": current, "new_password": new},
        headers=login.headers,
    )


def test_password_change_keeps_the_callers_session_and_ends_the_others(client, login, alice):
    other = login("alice")
    assert _change(client, alice, PASSWORD, NEW_PASSWORD).status_code == 204
    assert client.get("/me", headers=alice.headers).status_code == 200
    assert client.post("/refresh", json={"refresh_token": alice.refresh_token}).status_code == 200
    assert client.get("/me", headers=other.headers).status_code == 401
    old = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    new = client.post("/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert new.status_code == 200


def test_password_change_with_a_wrong_current_password_is_403_and_changes_nothing(
    client, login, alice
):
    other = login("alice")
    response = _change(client, alice, "not my password", NEW_PASSWORD)
    assert response.status_code == 403
    assert response.get_json()["detail"] == "current password is wrong"
    assert client.get("/me", headers=other.headers).status_code == 200
    assert (
        client.post("/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    )


def test_password_change_applies_the_password_rules(client, login, alice):
    other = login("alice")
    response = _change(client, alice, PASSWORD, "alice")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"new_password"}  # the field as sent
    assert client.get("/me", headers=other.headers).status_code == 200


def test_password_change_requires_both_fields(client, alice):
    response = client.post("/password", json={"new_password": NEW_PASSWORD}, headers=alice.headers)
    assert response.status_code == 422
    assert "current_password" in response.get_json()["errors"]


def test_sessions_are_paginated(clock, client, login, alice):
    for _ in range(3):
        clock.shift(1)
        login("alice")
    body = client.get("/sessions?page=2&per_page=3", headers=alice.headers).get_json()
    assert (body["page"], body["per_page"], body["total"]) == (2, 3, 4)
    assert [item["current"] for item in body["items"]] == [True]
