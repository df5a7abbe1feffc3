"""A lockout caused by others does not lock out the owner (issue 23, item 2; ENUM-03).

Strangers' wrong passwords keep a username locked, yet its owner's live session proves itself
at ``/reauthenticate`` and ``/password`` (counted against that session), and a client that
logged in before logs in again with its ``device_token`` (counted against that device).
"""

from __future__ import annotations

import pytest
from support.accounts import PASSWORD
from support.forged_tokens import forged_signature

from api.credentials import signed_tokens

LIMIT = 10  # the default LOGIN_RATE_LIMIT: 10 per minute
OWNER = "192.0.2.10"


def _login(client, username, password=PASSWORD, address=OWNER, device_token=None):
    body = {"username": username, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    return client.post("/login", json=body, environ_base={"REMOTE_ADDR": address})


def _attack(client, username="alice", attempts=LIMIT + 1):
    """A stranger's wrong passwords from addresses of its own: the username ends up locked."""
    for attempt in range(attempts):
        _login(client, username, "not the password", f"198.51.100.{attempt}")
    assert _login(client, username, address="203.0.113.50").status_code == 429


@pytest.fixture
def owner(client, make_user) -> dict:
    """Alice logged in from her own address: her tokens and her device token."""
    make_user("alice")
    response = _login(client, "alice")
    assert response.status_code == 200
    return response.get_json()


def _bearer(owner) -> dict:
    return {"Authorization": f"Bearer {owner['access_token']}"}


def test_every_login_answers_a_new_device_token_naming_the_user(app, client, owner):
    again = _login(client, "alice").get_json()
    with app.app_context():
        first = signed_tokens.codec().verify(signed_tokens.DEVICE, owner["device_token"])
        second = signed_tokens.codec().verify(signed_tokens.DEVICE, again["device_token"])
    me = client.get("/me", headers=_bearer(owner)).get_json()
    assert first.user_id == second.user_id == me["id"]
    assert first.device_id != second.device_id  # one counter per login
    assert owner["device_token"].startswith("dt.")


def test_a_device_token_is_no_bearer_token(client, owner):
    response = client.get("/me", headers={"Authorization": f"Bearer {owner['device_token']}"})
    assert response.status_code == 401


def test_the_owners_device_token_logs_in_while_strangers_keep_the_username_locked(client, owner):
    _attack(client)
    response = _login(client, "alice", device_token=owner["device_token"])
    assert response.status_code == 200
    assert response.get_json()["device_token"] != owner["device_token"]


def test_the_owners_live_session_reauthenticates_and_changes_the_password_meanwhile(client, owner):
    _attack(client)
    reauthenticated = client.post(
        "/reauthenticate",
        json={"password": PASSWORD},
        headers=_bearer(owner),
        environ_base={"REMOTE_ADDR": OWNER},
    )
    assert reauthenticated.status_code == 200
    changed = client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers={"Authorization": f"Bearer {reauthenticated.get_json()['access_token']}"},
        environ_base={"REMOTE_ADDR": OWNER},
    )
    assert changed.status_code == 204


def test_wrong_passwords_with_a_device_token_count_on_that_device(client, owner):
    for _ in range(LIMIT):
        wrong = _login(client, "alice", "not the password", device_token=owner["device_token"])
        assert wrong.status_code == 401
    # The device is spent (the owner's address too: the same guesses came from it) ...
    refused = _login(client, "alice", address="203.0.113.7", device_token=owner["device_token"])
    assert refused.status_code == 429
    # ... not the username: strangers elsewhere still get their own ten guesses.
    assert _login(client, "alice", "not the password", "203.0.113.8").status_code == 401
    assert _login(client, "alice", address="203.0.113.9").status_code == 200


def _other_users_token(app, client, make_user) -> str:
    make_user("bob")
    return _login(client, "bob", address="192.0.2.20").get_json()["device_token"]


@pytest.mark.parametrize("kind", ["another user's", "expired", "forged", "not a token", "access"])
def test_any_other_device_token_counts_as_a_strangers_never_an_error(
    clock, app, client, owner, make_user, kind
):
    tokens = {
        "another user's": lambda: _other_users_token(app, client, make_user),
        "expired": lambda: owner["device_token"],
        "forged": lambda: forged_signature(owner["device_token"]),
        "not a token": lambda: "x" * 40,
        "access": lambda: owner["access_token"],
    }
    token = tokens[kind]()
    if kind == "expired":
        clock.shift(app.config["DEVICE_TOKEN_MAX_AGE"] + 1)
    # A wrong password with it is a stranger's guess, answered as any: 401.
    assert _login(client, "alice", "wrong", device_token=token).status_code == 401
    _attack(client)
    assert _login(client, "alice", device_token=token).status_code == 429
