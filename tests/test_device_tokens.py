"""A lockout caused by others does not lock out the owner (ENUM-03).

Strangers' wrong passwords keep a username locked, yet its owner's live session proves itself
at ``/reauthenticate`` and ``/password`` (counted against that session), and a client that
logged in before logs in again with its ``device_token`` (counted against that device), with
TOTP on through both steps: its ``mfa_token`` names the device.
"""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer
from support.accounts import PASSWORD, Login, totp_code
from support.forged_tokens import forged_signature, signed_with_the_real_key

from api.credentials import failed_attempts, signed_tokens
from api.services.accounts import username_key

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


# --- with TOTP on: the device travels through the second step ---------------------------------


@pytest.fixture
def totp_owner(clock, client, owner, enrol) -> dict:
    """Alice with TOTP on, her device token of the login before; the clock two minutes (four
    steps) past her enrolment, so that her authenticator's code is a new one."""
    me = client.get("/me", headers=_bearer(owner)).get_json()
    enrolment = enrol(Login(me["id"], owner["access_token"], owner["refresh_token"]))
    clock.shift(120)
    return {**owner, "secret": enrolment.secret}


def _first_step(client, device_token=None) -> str:
    response = _login(client, "alice", device_token=device_token)
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["mfa_required"] is True
    return response.get_json()["mfa_token"]


def _second_step(client, mfa_token, code):
    return client.post(
        "/login/mfa",
        json={"mfa_token": mfa_token, "code": code},
        environ_base={"REMOTE_ADDR": OWNER},
    )


def _claims(app, kind, token):
    with app.app_context():
        return signed_tokens.codec().verify(kind, token)


def _remaining(app, counter: failed_attempts.Counter) -> int:
    """The attempts left on ``counter`` in this minute."""
    with app.app_context():
        attempts = failed_attempts.counters()
        (limit,) = attempts.limits
        window = attempts.strategy.get_window_stats(
            limit, attempts.prefix, counter.name, counter.key
        )
        return window.remaining


def test_the_totp_owners_device_logs_in_through_both_steps_while_strangers_lock_the_name(
    app, client, totp_owner
):
    _attack(client)
    mfa_token = _first_step(client, totp_owner["device_token"])
    device = _claims(app, signed_tokens.DEVICE, totp_owner["device_token"])
    assert _claims(app, signed_tokens.MFA, mfa_token).device_id == device.device_id
    response = _second_step(client, mfa_token, totp_code(totp_owner["secret"]))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["device_token"] != totp_owner["device_token"]


def test_a_strangers_mfa_token_names_no_device_and_still_counts_on_the_username(
    app, client, totp_owner
):
    mfa_token = _first_step(client)  # the right password, from a client with no device token
    assert _claims(app, signed_tokens.MFA, mfa_token).device_id is None
    _attack(client)
    # Even the right code: the username is over its limit (the owner's address is not).
    response = _second_step(client, mfa_token, totp_code(totp_owner["secret"]))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("device", [True, False])
def test_a_wrong_code_counts_on_the_counter_the_mfa_token_names(app, client, totp_owner, device):
    device_token = totp_owner["device_token"] if device else None
    mfa_token = _first_step(client, device_token)
    near = {totp_code(totp_owner["secret"], steps) for steps in range(-3, 4)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in near)
    assert _second_step(client, mfa_token, wrong).status_code == 401
    device_id = _claims(app, signed_tokens.DEVICE, totp_owner["device_token"]).device_id
    on_device = _remaining(app, failed_attempts.device(device_id))
    on_username = _remaining(app, failed_attempts.username(username_key("alice")))
    assert (on_device, on_username) == ((LIMIT - 1, LIMIT) if device else (LIMIT, LIMIT - 1))


@pytest.mark.parametrize(
    "device_id", [None, 7, True, "", "not/random", "x" * 44, ["a"], {"did": "a"}]
)
def test_a_device_claim_of_another_form_is_a_malformed_mfa_token(
    app, config, client, totp_owner, device_id
):
    real = _claims(app, signed_tokens.MFA, _first_step(client, totp_owner["device_token"]))
    payload = {"uid": real.user_id, "cid": real.challenge_id, "did": device_id}
    token = signed_with_the_real_key(config["SECRET_KEY"], signed_tokens.MFA, payload)
    response = _second_step(client, token, totp_code(totp_owner["secret"]))
    assert response.status_code == 401
    assert response.get_json()["detail"] == "malformed token"


def _device_added(mfa_token: str, device_id: str) -> str:
    """Return ``mfa_token`` with ``device_id`` written into its payload, by one without the
    key: its signature stays the one made for the payload without it."""
    kind, kid, signed = mfa_token.split(".", 2)
    payload, rest = signed.split(".", 1)
    serializer = URLSafeTimedSerializer("not the key")
    claims = {**serializer.load_payload(payload.encode()), "did": device_id}
    return f"{kind}.{kid}.{serializer.dump_payload(claims).decode()}.{rest}"


def test_an_mfa_token_given_a_device_by_its_holder_is_refused(client, totp_owner):
    mfa_token = _first_step(client)
    for token in (_device_added(mfa_token, "a-device-of-my-own"), forged_signature(mfa_token)):
        response = _second_step(client, token, totp_code(totp_owner["secret"]))
        assert response.status_code == 401
        assert response.get_json()["detail"] == "invalid signature"
    # Refused before any code was counted: the token itself still works.
    response = _second_step(client, mfa_token, totp_code(totp_owner["secret"]))
    assert response.status_code == 200
