"""Who may set a password, and where: `POST /password` for one's own (the current one first),
`PATCH /users/<id>` for an admin's session setting another user's, the CLI for anyone's; never
a personal access token. The CLI refuses every password the API would refuse."""

from __future__ import annotations

import pytest
from support.accounts import PASSWORD

from api.credentials import passwords
from api.credentials.passwords import MAX_PASSWORD_LENGTH

NEW_PASSWORD = "a different long passphrase"


def _logs_in(client, username: str, password: str) -> bool:
    body = {"username": username, "password": password}
    return client.post("/login", json=body).status_code == 200


def _refused(response, detail_part: str) -> None:
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert detail_part in response.get_json()["detail"]


# --- an admin's own password ----------------------------------------------------------------


def test_an_admin_cannot_set_their_own_password_through_users(client, admin):
    response = client.patch(
        f"/users/{admin.user_id}", json={"password": NEW_PASSWORD}, headers=admin.headers
    )
    _refused(response, "POST /password")
    assert client.get("/me", headers=admin.headers).status_code == 200  # no session ended
    assert _logs_in(client, "root", PASSWORD)
    assert not _logs_in(client, "root", NEW_PASSWORD)


def test_a_refused_own_password_leaves_the_rest_of_the_body_undone(client, admin, make_user):
    make_user("deputy", is_admin=True)  # so stepping down alone would be allowed
    body = {"password": NEW_PASSWORD, "is_admin": False}
    response = client.patch(f"/users/{admin.user_id}", json=body, headers=admin.headers)
    _refused(response, "POST /password")
    assert client.get("/me", headers=admin.headers).get_json()["is_admin"] is True


def test_an_admin_still_sets_another_users_password(client, admin, alice):
    response = client.patch(
        f"/users/{alice.user_id}", json={"password": NEW_PASSWORD}, headers=admin.headers
    )
    assert response.status_code == 200
    assert _logs_in(client, "alice", NEW_PASSWORD)


def test_post_password_still_changes_ones_own(client, admin):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post("/password", json=body, headers=admin.headers).status_code == 204
    assert _logs_in(client, "root", NEW_PASSWORD)


# --- personal access tokens -----------------------------------------------------------------


@pytest.fixture
def admin_pat(admin, make_token):
    return make_token(admin, ["users:read", "users:write"])


def test_no_personal_access_token_sets_its_own_users_password(client, admin, admin_pat):
    response = client.patch(
        f"/users/{admin.user_id}", json={"password": NEW_PASSWORD}, headers=admin_pat.headers
    )
    _refused(response, "personal access token")
    assert _logs_in(client, "root", PASSWORD)
    assert client.get("/me", headers=admin.headers).status_code == 200


def test_no_personal_access_token_sets_another_users_password(client, alice, admin_pat):
    response = client.patch(
        f"/users/{alice.user_id}", json={"password": NEW_PASSWORD}, headers=admin_pat.headers
    )
    _refused(response, "personal access token")
    assert _logs_in(client, "alice", PASSWORD)
    assert client.get("/me", headers=alice.headers).status_code == 200  # sessions not ended


def test_a_personal_access_token_keeps_every_other_change(client, alice, admin_pat):
    url = f"/users/{alice.user_id}"
    response = client.patch(url, json={"is_active": False}, headers=admin_pat.headers)
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    assert client.patch(url, json={"is_active": True}, headers=admin_pat.headers).status_code == 200
    assert _logs_in(client, "alice", PASSWORD)


def test_the_document_says_who_may_set_a_password(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/users/{user_id}"]["patch"]
    assert "403" in operation["responses"]
    assert "POST /password" in operation["description"]
    assert "personal access token" in operation["description"]


# --- the CLI refuses what the API refuses ---------------------------------------------------

REFUSED_BY_BOTH = {
    "a NUL": ("nul\x00passphrase", "Must not hold a NUL character."),
    "too long": ("x" * (MAX_PASSWORD_LENGTH + 1), "Must be at most 1024 characters long."),
}


def _cli_refused(result, rule: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: password refused: {rule}\n"
    assert result.stdout == ""


@pytest.mark.parametrize("case", sorted(REFUSED_BY_BOTH))
def test_the_api_and_the_cli_refuse_the_same_passwords(app, client, cli, admin, case):
    password, rule = REFUSED_BY_BOTH[case]
    body = {"username": "carol", "password": password}
    assert client.post("/users", json=body, headers=admin.headers).status_code in {400, 422}
    _cli_refused(cli("users", "create", "carol", "--password-stdin", input=f"{password}\n"), rule)
    listed = client.get("/users", headers=admin.headers).get_json()["items"]
    assert [u["username"] for u in listed] == ["root"]


@pytest.mark.parametrize("case", sorted(REFUSED_BY_BOTH))
def test_set_password_refuses_them_and_changes_nothing(client, cli, alice, case):
    password, rule = REFUSED_BY_BOTH[case]
    result = cli("users", "set-password", "alice", "--password-stdin", input=f"{password}\n")
    _cli_refused(result, rule)
    assert client.get("/me", headers=alice.headers).status_code == 200
    assert _logs_in(client, "alice", PASSWORD)


def test_bytes_that_are_not_utf8_on_stdin_are_refused_in_one_line(client, cli, admin):
    result = cli(
        "users", "create", "carol", "--password-stdin", input=b"pass\xffphrase\xed\xa0\x80\n"
    )
    _cli_refused(result, "Must be valid Unicode text.")
    listed = client.get("/users", headers=admin.headers).get_json()["items"]
    assert [u["username"] for u in listed] == ["root"]


@pytest.mark.parametrize("password", ["nul\x00passphrase", "lone \ud800 surrogate"])
def test_the_rule_refuses_what_no_request_body_can_carry(app, password):
    with app.app_context():
        assert passwords.password_problems(password, "alice")
