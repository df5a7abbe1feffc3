"""``MFA_REQUIRED``: none, admins or all. A user it names who has no TOTP gets an
enrolment-only session, whose tokens carry ``mfa:enroll`` alone (MFA-01)."""

from __future__ import annotations

import pytest
from support.accounts import PASSWORD, totp_code

from api import create_app
from api.credentials import scopes

pytestmark = pytest.mark.usefixtures("clock")
# What a session carries when no policy holds it back (the contract's lists: test_scopes.py).
FULL_USER = sorted(scopes.granted_by_role(is_admin=False))
FULL_ADMIN = sorted(scopes.granted_by_role(is_admin=True))


@pytest.fixture
def policy():
    return "none"


@pytest.fixture
def config(config, policy):
    return {**config, "MFA_REQUIRED": policy}


def _scopes(client, login):
    return client.get("/me", headers=login.headers).get_json()["scopes"]


def test_the_default_asks_no_one(client, alice, admin):
    assert _scopes(client, alice) == FULL_USER
    assert _scopes(client, admin) == FULL_ADMIN


@pytest.mark.parametrize(
    ("policy", "user_scopes", "admin_scopes"),
    [
        ("none", FULL_USER, FULL_ADMIN),
        ("admins", FULL_USER, ["mfa:enroll"]),
        ("all", ["mfa:enroll"], ["mfa:enroll"]),
    ],
)
def test_the_policy_names_who_must_enrol_first(client, alice, admin, user_scopes, admin_scopes):
    assert _scopes(client, alice) == user_scopes
    assert _scopes(client, admin) == admin_scopes


@pytest.mark.parametrize("policy", ["all"])
def test_an_enrolment_only_session_opens_enrolment_and_nothing_else(client, alice):
    assert client.get("/mfa", headers=alice.headers).status_code == 200
    assert client.post("/mfa/totp", headers=alice.headers).status_code == 200
    for method, path in [
        ("GET", "/notes"),
        ("POST", "/notes"),
        ("GET", "/sessions"),
        ("POST", "/password"),
        ("POST", "/tokens"),
        ("POST", "/reauthenticate"),
        ("DELETE", "/mfa/totp"),
        ("POST", "/mfa/recovery-codes"),
        ("POST", "/logout"),
    ]:
        response = client.open(path, method=method, json={}, headers=alice.headers)
        assert response.status_code == 403, (method, path)


@pytest.mark.parametrize("policy", ["admins"])
def test_an_admin_enrols_then_logs_in_again_for_a_full_session(client, clock, admin, mfa_token):
    started = client.post("/mfa/totp", headers=admin.headers)
    secret = started.get_json()["secret"]
    confirmed = client.post(
        "/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=admin.headers
    )
    assert confirmed.status_code == 200
    assert _scopes(client, admin) == ["mfa:enroll"]  # this session stays what it was
    clock.shift(30)
    pair = client.post(
        "/login/mfa", json={"mfa_token": mfa_token("root"), "code": totp_code(secret)}
    ).get_json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/me", headers=headers).get_json()["scopes"] == FULL_ADMIN
    assert client.get("/users", headers=headers).status_code == 200


@pytest.mark.parametrize("policy", ["admins"])
def test_promotion_under_admins_takes_the_session_to_enrolment_only(app, client, alice, cli):
    assert _scopes(client, alice) == FULL_USER
    assert cli("users", "promote", "alice").exit_code == 0
    assert _scopes(client, alice) == ["mfa:enroll"]
    assert client.get("/users", headers=alice.headers).status_code == 403


@pytest.mark.parametrize("policy", ["all"])
def test_turning_totp_off_under_all_takes_the_session_to_enrolment_only(
    client, clock, alice, cli, totp_login
):
    start = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    client.post("/mfa/totp/confirm", json={"code": totp_code(start)}, headers=alice.headers)
    clock.shift(30)
    full = totp_login("alice", start)
    assert _scopes(client, full) == FULL_USER
    assert client.delete("/mfa/totp", headers=full.headers).status_code == 204
    assert _scopes(client, full) == ["mfa:enroll"]


def test_an_unknown_policy_stops_the_start(config, tmp_path):
    with pytest.raises(RuntimeError, match="MFA_REQUIRED must be one of none, admins, all"):
        create_app({**config, "MFA_REQUIRED": "sometimes"}, instance_path=str(tmp_path / "x"))


def test_the_policy_comes_from_the_environment(config, tmp_path, monkeypatch):
    monkeypatch.setenv("MFA_REQUIRED", "admins")
    config.pop("MFA_REQUIRED")
    app = create_app(config, instance_path=str(tmp_path / "env"))
    assert app.config["MFA_REQUIRED"] == "admins"


@pytest.mark.parametrize("policy", ["all"])
def test_a_user_with_totp_gets_the_second_step_under_any_policy(client, alice, enrol, clock):
    enrolled = enrol(alice)
    clock.shift(30)
    first = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert first.get_json()["mfa_required"] is True
    second = client.post(
        "/login/mfa",
        json={"mfa_token": first.get_json()["mfa_token"], "code": totp_code(enrolled.secret)},
    )
    assert second.status_code == 200
