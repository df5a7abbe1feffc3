"""What ends an ``mfa_token`` besides its own success, wrong codes and expiry: a new password by
any path, and ``POST /revoke`` (MFA-02, SES-04)."""

from __future__ import annotations

import json
import logging

import pytest
from support.accounts import PASSWORD, totp_code

pytestmark = pytest.mark.usefixtures("clock")
NEW_PASSWORD = "a different long passphrase"


@pytest.fixture
def enrolled(alice, enrol, clock):
    """Alice with TOTP on; the clock two minutes (four steps) past her enrolment."""
    enrolment = enrol(alice)
    clock.shift(120)
    return enrolment


def _second_step(client, token: str, secret: str):
    return client.post("/login/mfa", json={"mfa_token": token, "code": totp_code(secret)})


def _by_herself(client, cli, admin, alice) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post("/password", json=body, headers=alice.headers).status_code == 204


def _by_an_admin(client, cli, admin, alice) -> None:
    body = {"password": NEW_PASSWORD}
    response = client.patch(f"/users/{alice.user_id}", json=body, headers=admin.headers)
    assert response.status_code == 200


def _by_the_cli(client, cli, admin, alice) -> None:
    result = cli("users", "set-password", "alice", "--password-stdin", input=f"{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("change", [_by_herself, _by_an_admin, _by_the_cli])
def test_a_new_password_ends_the_open_mfa_tokens(
    client, cli, admin, alice, enrolled, mfa_token, change
):
    before = mfa_token("alice")
    change(client, cli, admin, alice)
    refused = _second_step(client, before, enrolled.secret)
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "mfa_token already used"
    # The code itself was not spent: a login with the new password takes it.
    after = mfa_token("alice", NEW_PASSWORD)
    assert _second_step(client, after, enrolled.secret).status_code == 200


def test_a_refused_password_change_leaves_the_mfa_tokens_open(client, alice, enrolled, mfa_token):
    token = mfa_token("alice")
    body = {"current_password": "not the password", "new_password": NEW_PASSWORD}
    assert client.post("/password", json=body, headers=alice.headers).status_code == 403
    assert _second_step(client, token, enrolled.secret).status_code == 200


def test_revoke_ends_an_mfa_token(client, enrolled, mfa_token):
    token, kept = mfa_token("alice"), mfa_token("alice")
    response = client.post("/revoke", json={"token": token})
    assert response.status_code == 204 and response.get_data() == b""
    refused = _second_step(client, token, enrolled.secret)
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "mfa_token already used"
    assert _second_step(client, kept, enrolled.secret).status_code == 200  # that one only


def test_revoking_an_mfa_token_is_audited_without_the_token(
    client, caplog, alice, enrolled, mfa_token
):
    caplog.set_level(logging.INFO, logger="tessera.audit")
    token = mfa_token("alice")
    for _ in range(2):
        assert client.post("/revoke", json={"token": token}).status_code == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "tessera.audit"]
    events = [json.loads(line) for line in lines if '"token_revoked"' in line]
    assert [(e["kind"], e["outcome"], e["user_id"]) for e in events] == [
        ("mfa", "success", alice.user_id),
        ("mfa", "ignored", alice.user_id),
    ]
    assert not any(token.rsplit(".", 1)[1] in line for line in lines)
