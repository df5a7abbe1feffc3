"""Logging in and reauthenticating with a passkey: one test per relying-party check, the
state's single use and binding, the counter, the failed-attempt counters and multi-factor."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.accounts import PASSWORD
from support.authenticator import Authenticator
from support.dpop import DpopKey, dpop_headers
from test_passkeys import events, register

from api.database import db
from api.models import LoginSession, Passkey

REFUSED = {
    "type": "about:blank",
    "title": "Unauthorized",
    "status": 401,
    "detail": "passkey refused",
}


@pytest.fixture
def config(config):
    return {**config, "LOGIN_RATE_LIMIT": "3 per minute"}


@pytest.fixture
def alices_passkey(client, alice) -> Authenticator:
    authenticator = Authenticator(counter=0)
    assert register(client, alice, authenticator).status_code == 201
    return authenticator


def passkey_login(client, authenticator: Authenticator, **knobs):
    """Log in with the passkey through both endpoints; ``knobs`` spoil the assertion."""
    body = client.post("/login/passkey/options").get_json()
    credential = authenticator.assert_(body["options"], **knobs)
    return client.post("/login/passkey", json={"state": body["state"], "credential": credential})


def bearer(answer) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def test_a_passkey_logs_its_owner_in_with_the_login_answer(app, client, alice, alices_passkey):
    response = passkey_login(client, alices_passkey)
    assert response.status_code == 200, response.get_json()
    assert set(response.get_json()) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "refresh_expires_in",
        "device_token",
    }
    assert response.headers["Cache-Control"] == "no-store"
    me = client.get("/me", headers=bearer(response)).get_json()
    assert me["username"] == "alice"
    [login_event] = [e for e in events(app, "login") if e.fields.get("proof") == "passkey"]
    assert login_event.user_id == alice.user_id
    [record] = client.get("/passkeys", headers=alice.headers).get_json()["items"]
    assert login_event.fields["passkey_id"] == record["id"]
    assert events(app, "passkey_used") == []  # the login event names the passkey
    with app.app_context():
        proofs = db.session.scalars(sa.select(LoginSession.proof).order_by(LoginSession.created_at))
        assert "passkey" in list(proofs)
        assert db.session.scalar(sa.select(Passkey.last_used_at)) is not None


def test_login_options_name_no_account_and_look_alike(client, alices_passkey):
    first = client.post("/login/passkey/options").get_json()
    second = client.post("/login/passkey/options").get_json()
    for body in (first, second):
        assert body["options"]["allowCredentials"] == []
        assert body["options"]["userVerification"] == "required"
        assert body["options"]["rpId"] == "localhost"
    del first["options"]["challenge"], second["options"]["challenge"]
    assert first["options"] == second["options"]


@pytest.mark.parametrize(
    "knobs",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"user_verified": False},
        {"user_present": False},
        {"forge_signature": True},
        {"ceremony": "webauthn.create"},
        {"user_handle": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    ],
    ids=["origin", "rp-id-hash", "challenge", "no-uv", "no-up", "signature", "type", "handle"],
)
def test_each_failed_check_is_the_same_401_and_a_failed_attempt(
    app, client, alice, alices_passkey, knobs
):
    response = passkey_login(client, alices_passkey, **knobs)
    assert response.status_code == 401
    assert response.get_json() == REFUSED
    [failure] = [e for e in events(app, "login") if e.outcome == "failure"]
    assert failure.user_id == alice.user_id and failure.fields["factor"] == "passkey"
    assert passkey_login(client, alices_passkey).status_code == 200  # the passkey is fine


def test_an_unknown_passkey_is_the_same_401(client, alices_passkey):
    assert passkey_login(client, Authenticator()).get_json() == REFUSED


def test_a_replayed_assertion_or_state_is_refused(client, alices_passkey):
    body = client.post("/login/passkey/options").get_json()
    credential = alices_passkey.assert_(body["options"])
    sent = {"state": body["state"], "credential": credential}
    assert client.post("/login/passkey", json=sent).status_code == 200
    assert client.post("/login/passkey", json=sent).get_json() == REFUSED
    fresh = alices_passkey.assert_(body["options"])  # a new assertion, the spent state
    assert client.post("/login/passkey", json={**sent, "credential": fresh}).status_code == 401


def test_a_state_for_another_purpose_is_refused(client, alice, alices_passkey):
    started = client.post("/reauthenticate/passkey/options", headers=alice.headers).get_json()
    credential = alices_passkey.assert_(started["options"])
    sent = {"state": started["state"], "credential": credential}
    assert client.post("/login/passkey", json=sent).get_json() == REFUSED
    registration = client.post("/passkeys/register/options", headers=alice.headers).get_json()
    sent["state"] = registration["state"]
    assert client.post("/login/passkey", json=sent).get_json() == REFUSED


def test_an_expired_state_is_refused(clock, client, alices_passkey):
    body = client.post("/login/passkey/options").get_json()
    clock.shift(301)
    credential = alices_passkey.assert_(body["options"])
    sent = {"state": body["state"], "credential": credential}
    assert client.post("/login/passkey", json=sent).get_json() == REFUSED


def test_a_counter_that_does_not_go_up_disables_the_passkey(app, client, alice, alices_passkey):
    assert passkey_login(client, alices_passkey).status_code == 200  # counter 1
    assert passkey_login(client, alices_passkey).status_code == 200  # counter 2
    assert passkey_login(client, alices_passkey, count=2).get_json() == REFUSED
    [suspected] = events(app, "passkey_clone_suspected")
    assert suspected.user_id == alice.user_id
    assert passkey_login(client, alices_passkey).get_json() == REFUSED  # disabled now
    record = client.get("/passkeys", headers=alice.headers).get_json()["items"][0]
    assert record["disabled_at"] is not None
    assert client.get("/mfa", headers=alice.headers).get_json()["passkeys"] == 0


def test_a_forged_low_counter_disables_nothing(app, client, alices_passkey):
    assert passkey_login(client, alices_passkey).status_code == 200
    spoiled = passkey_login(client, alices_passkey, count=0, forge_signature=True)
    assert spoiled.get_json() == REFUSED
    assert events(app, "passkey_clone_suspected") == []
    assert passkey_login(client, alices_passkey).status_code == 200


def test_an_authenticator_without_a_counter_logs_in_again_and_again(client, alice):
    synced = Authenticator(counter=None, backed_up=True)
    record = register(client, alice, synced).get_json()
    assert record["backed_up"] is True
    for _ in range(3):
        assert passkey_login(client, synced).status_code == 200


def test_a_removed_passkey_logs_no_one_in(client, alice, alices_passkey):
    [record] = client.get("/passkeys", headers=alice.headers).get_json()["items"]
    assert client.delete(f"/passkeys/{record['id']}", headers=alice.headers).status_code == 204
    assert passkey_login(client, alices_passkey).get_json() == REFUSED


def test_a_deactivated_or_deleted_users_passkey_logs_no_one_in(
    client, admin, alice, alices_passkey
):
    deactivate = {"is_active": False}
    changed = client.patch(f"/users/{alice.user_id}", json=deactivate, headers=admin.headers)
    assert changed.status_code == 200
    assert passkey_login(client, alices_passkey).get_json() == REFUSED
    assert client.delete(f"/users/{alice.user_id}", headers=admin.headers).status_code == 204
    assert passkey_login(client, alices_passkey).get_json() == REFUSED


def test_a_totp_user_logs_in_with_a_passkey_and_no_code(client, alice, enrol, alices_passkey):
    enrol(alice)
    response = passkey_login(client, alices_passkey)
    assert response.status_code == 200
    assert "mfa_required" not in response.get_json()


def test_a_passkey_login_satisfies_mfa_required(app, client, alice, login, alices_passkey):
    app.config["MFA_REQUIRED"] = "all"
    response = passkey_login(client, alices_passkey)
    scopes = client.get("/me", headers=bearer(response)).get_json()["scopes"]
    assert "notes:read" in scopes and "account" in scopes
    # The password alone, for a user whose only second factor is a passkey: enrolment only.
    assert client.get("/me", headers=login("alice").headers).get_json()["scopes"] == ["mfa:enroll"]


def test_failed_assertions_count_per_address_and_a_passkey_is_no_password_guess(
    app, client, alice, alices_passkey
):
    for _ in range(3):
        wrong = client.post("/login", json={"username": "alice", "password": "wrong one!"})
        assert wrong.status_code == 401
    # Strangers hold alice's username counter over its limit; her passkey still works.
    other = {"REMOTE_ADDR": "10.0.0.9"}
    body = client.post("/login/passkey/options", environ_base=other).get_json()
    sent = {"state": body["state"], "credential": alices_passkey.assert_(body["options"])}
    assert client.post("/login/passkey", json=sent, environ_base=other).status_code == 200
    # Failed assertions from one address reach that address's limit.
    place = {"REMOTE_ADDR": "10.0.0.7"}
    answers = []
    for _ in range(4):
        body = client.post("/login/passkey/options", environ_base=place).get_json()
        sent = {"state": body["state"], "credential": Authenticator().assert_(body["options"])}
        answers.append(client.post("/login/passkey", json=sent, environ_base=place).status_code)
    assert answers == [401, 401, 401, 429]


def test_reauthentication_with_a_passkey_renews_the_proof(clock, client, alice, alices_passkey):
    clock.shift(601)
    assert client.post("/passkeys/register/options", headers=alice.headers).status_code == 401
    started = client.post("/reauthenticate/passkey/options", headers=alice.headers).get_json()
    assert [c["id"] for c in started["options"]["allowCredentials"]] == [alices_passkey.id]
    credential = alices_passkey.assert_(started["options"])
    sent = {"state": started["state"], "credential": credential}
    renewed = client.post("/reauthenticate", json=sent, headers=alice.headers)
    assert renewed.status_code == 200, renewed.get_json()
    headers = bearer(renewed)
    assert client.post("/passkeys/register/options", headers=headers).status_code == 200


def test_a_refused_reauthentication_is_403(client, alice, bob, alices_passkey):
    started = client.post("/reauthenticate/passkey/options", headers=alice.headers).get_json()
    spoiled = alices_passkey.assert_(started["options"], user_verified=False)
    sent = {"state": started["state"], "credential": spoiled}
    assert client.post("/reauthenticate", json=sent, headers=alice.headers).status_code == 403
    good = alices_passkey.assert_(started["options"])
    sent = {"state": started["state"], "credential": good}
    assert client.post("/reauthenticate", json=sent, headers=bob.headers).status_code == 403
    login_state = client.post("/login/passkey/options").get_json()["state"]
    sent = {"state": login_state, "credential": good}
    assert client.post("/reauthenticate", json=sent, headers=alice.headers).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD, "state": "s"},
        {"state": "s"},
        {"state": "s", "credential": {}, "code": "123456"},
        {},
    ],
    ids=["both", "no-credential", "code-with-passkey", "nothing"],
)
def test_reauthenticate_takes_a_password_or_a_passkey_not_both(client, alice, body):
    assert client.post("/reauthenticate", json=body, headers=alice.headers).status_code == 422


def sent_login(client, authenticator: Authenticator, **environ) -> dict:
    """A login's body: the state of new options and the authenticator's assertion."""
    body = client.post("/login/passkey/options", environ_base=environ).get_json()
    return {"state": body["state"], "credential": authenticator.assert_(body["options"])}


@pytest.mark.parametrize("counter", [5, None], ids=["counter", "no-counter"])
def test_a_passkey_login_costs_its_writes_alone(clock, client, alice, queries, counter):
    """The passkey's compare-and-swap (its lookup, owner, handle, counter and the address's
    limit in one UPDATE), then the login's own writes (network, event, last_login_at, the
    session that spends the state), in one transaction: no attempt counter, no state row."""
    authenticator = Authenticator(counter=counter)
    assert register(client, alice, authenticator).status_code == 201
    assert passkey_login(client, authenticator).status_code == 200
    clock.shift(1)
    sent = sent_login(client, authenticator)
    queries.clear()
    assert client.post("/login/passkey", json=sent).status_code == 200
    words = [" ".join(statement.split()[:3]) for statement in queries]
    assert words == [
        "UPDATE passkeys SET",
        "INSERT INTO login_networks",
        "INSERT INTO audit_events",
        "UPDATE users SET",
        "INSERT INTO login_sessions",
    ]


def test_a_replay_within_one_counter_is_refused_and_disables_nothing(app, client, alice):
    """A replayed login of an authenticator that keeps a counter fails its compare-and-swap:
    the spent state is why, not a clone."""
    counting = Authenticator(counter=3)
    assert register(client, alice, counting).status_code == 201
    sent = sent_login(client, counting)
    assert client.post("/login/passkey", json=sent).status_code == 200
    assert client.post("/login/passkey", json=sent).get_json() == REFUSED
    assert events(app, "passkey_clone_suspected") == []
    failure = [e for e in events(app, "login") if e.outcome == "failure"]
    assert [e.fields["reason"] for e in failure] == ["state refused: already used"]
    assert passkey_login(client, counting).status_code == 200


def test_a_login_over_the_address_limit_is_429_even_with_the_right_passkey(client, alices_passkey):
    place = {"REMOTE_ADDR": "10.0.0.8"}
    for _ in range(3):
        wrong = client.post(
            "/login", json={"username": "nobody", "password": "wrong"}, environ_base=place
        )
        assert wrong.status_code == 401
    sent = sent_login(client, alices_passkey, **place)
    refused = client.post("/login/passkey", json=sent, environ_base=place)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # Refused unchecked: the state is not spent, and from another address it logs in.
    assert client.post("/login/passkey", json=sent).status_code == 200


def test_a_dpop_proof_binds_the_passkey_session_to_its_key(client, alices_passkey):
    key = DpopKey("ES256")
    sent = sent_login(client, alices_passkey)
    proof = {"DPoP": key.proof("POST", "/login/passkey")}
    answer = client.post("/login/passkey", json=sent, headers=proof)
    assert answer.status_code == 200, answer.get_json()
    pair = answer.get_json()
    assert pair["token_type"] == "DPoP"
    token = pair["access_token"]
    me = client.get("/me", headers=dpop_headers(token, key.proof("GET", "/me", token)))
    assert me.status_code == 200 and me.get_json()["token_type"] == "DPoP"
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_refused_dpop_proof_spends_no_passkey_state(client, alices_passkey):
    sent = sent_login(client, alices_passkey)
    bad = {"DPoP": DpopKey("ES256").proof("POST", "/login")}  # made for another URL
    answer = client.post("/login/passkey", json=sent, headers=bad)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_dpop_proof"
    assert client.post("/login/passkey", json=sent).status_code == 200
