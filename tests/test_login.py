"""POST /login: the right credentials give tokens; every wrong one gets the same answer."""

from support.accounts import PASSWORD


def test_login_returns_access_and_refresh_tokens(client, make_user):
    make_user("alice")
    response = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "refresh_expires_in",
        "device_token",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 14 * 24 * 3600
    assert body["access_token"] != body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert "Set-Cookie" not in response.headers


def test_login_ignores_the_case_of_the_username(client, make_user):
    make_user("Alice")
    response = client.post("/login", json={"username": "aLICE", "password": PASSWORD})
    assert response.status_code == 200


def test_access_token_opens_me(client, alice):
    response = client.get("/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


def _failed_login(client, username, password):
    response = client.post("/login", json={"username": username, "password": password})
    headers = {k: v for k, v in response.headers.items() if k != "Content-Length"}
    return response.status_code, response.get_data(), headers


def test_wrong_password_unknown_user_and_deactivated_user_get_the_same_answer(client, make_user):
    make_user("alice")
    make_user("carol", is_active=False)
    wrong_password = _failed_login(client, "alice", PASSWORD + "!")
    unknown_user = _failed_login(client, "mallory", PASSWORD)
    deactivated = _failed_login(client, "carol", PASSWORD)
    assert wrong_password[0] == 401
    assert wrong_password == unknown_user == deactivated
    assert b"invalid username or password" in wrong_password[1]
    assert wrong_password[2]["Content-Type"] == "application/problem+json"
    assert wrong_password[2]["WWW-Authenticate"] == 'Bearer realm="api"'


def test_password_is_checked_exactly_as_typed(client, make_user):
    make_user("alice")
    for variant in (PASSWORD + " ", PASSWORD.upper(), PASSWORD[:-1]):
        response = client.post("/login", json={"username": "alice", "password": variant})
        assert response.status_code == 401


def test_login_with_missing_fields_is_422_naming_them(client):
    response = client.post("/login", json={"username": "alice"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"password": ["Missing data for required field."]}


def test_login_with_unknown_fields_is_422(client, make_user):
    make_user("alice")
    response = client.post(
        "/login", json={"username": "alice", "password": PASSWORD, "is_admin": True}
    )
    assert response.status_code == 422
    assert "is_admin" in response.get_json()["errors"]


def test_login_with_malformed_json_is_400(client):
    response = client.post("/login", data='{"username": ', content_type="application/json")
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"


def test_login_with_a_form_body_is_415(client):
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"


def test_every_login_opens_a_new_session(client, make_user, login):
    make_user("alice")
    first, second = login("alice"), login("alice")
    assert first.access_token != second.access_token
    client.post("/logout", headers=first.headers)
    assert client.get("/me", headers=first.headers).status_code == 401
    assert client.get("/me", headers=second.headers).status_code == 200
