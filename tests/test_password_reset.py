"""``POST /password/forgot`` and ``POST /password/reset``: a forgotten password, by email."""

from __future__ import annotations

import queue

import pytest
from support.accounts import PASSWORD

NEW = "plum-ladder-orbit-nineteen"
NEWER = "quartz-meadow-lantern-seven"


@pytest.fixture
def config(config, mailbox):
    return {
        **config,
        "MAIL_URL": mailbox.url,
        "EMAIL_LINK_TEMPLATE": "https://app.tessera.test/{purpose}?token={token}",
    }


@pytest.fixture
def alice_verified(make_user, verified_address):
    make_user("alice")
    verified_address("alice", "Alice@Example.test")


def _forgot(client, email, **headers):
    return client.post("/password/forgot", json={"email": email}, headers=headers)


def _reset(client, token, password=NEW):
    return client.post("/password/reset", json={"token": token, "new_password": password})


def _no_more_mail(mailbox) -> bool:
    try:
        mailbox.arrivals.get(timeout=0.5)
    except queue.Empty:
        return True
    return False


def test_forgot_answers_the_same_for_known_and_unknown_addresses(client, alice_verified, mailbox):
    known = _forgot(client, "alice@example.test")
    unknown = _forgot(client, "nobody@example.test")
    assert known.status_code == unknown.status_code == 202
    assert known.get_data() == unknown.get_data()
    mail = mailbox.wait_for()
    assert mail.recipients == ["Alice@Example.test"]
    assert _no_more_mail(mailbox)  # none for the unknown address


def test_the_unknown_path_hashes_as_often_as_the_known_one(client, alice_verified, hasher):
    before = (hasher.hashes, hasher.verifications)
    _forgot(client, "alice@example.test")
    known = (hasher.hashes - before[0], hasher.verifications - before[1])
    before = (hasher.hashes, hasher.verifications)
    _forgot(client, "nobody@example.test")
    assert (hasher.hashes - before[0], hasher.verifications - before[1]) == known


def test_the_link_comes_from_the_configuration_never_from_the_host(client, alice_verified, mailbox):
    _forgot(client, "alice@example.test", Host="evil.test", **{"X-Forwarded-Host": "evil.test"})
    mail = mailbox.wait_for()
    assert "evil.test" not in mail.text
    assert f"https://app.tessera.test/reset-password?token={mail.token}" in mail.text


def test_a_reset_sets_the_password_and_ends_every_session_and_pat(
    client, alice_verified, login, make_token, mailbox
):
    session = login("alice")
    pat = make_token(session, ["notes:read"])
    assert [mailbox.wait_for().message["Subject"] for _ in range(2)] == ["Security notice"] * 2
    _forgot(client, "alice@example.test")  # after the notices of the new network and the PAT
    token = mailbox.wait_for().token
    assert _reset(client, token).status_code == 204
    assert client.get("/me", headers=session.headers).status_code == 401
    assert client.get("/me", headers=pat.headers).status_code == 401
    assert client.post("/refresh", json={"refresh_token": session.refresh_token}).status_code == 401
    assert (
        client.post("/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    )
    login("alice", NEW)
    notice = mailbox.wait_for()
    assert "Your password was reset." in notice.text


def test_a_reset_token_works_once(client, alice_verified, mailbox):
    _forgot(client, "alice@example.test")
    token = mailbox.wait_for().token
    assert _reset(client, token).status_code == 204
    again = _reset(client, token, NEWER)
    assert again.status_code == 400
    assert again.get_json()["detail"] == "token already used or expired"


def test_using_the_newer_reset_ends_the_older(client, alice_verified, mailbox):
    _forgot(client, "alice@example.test")
    older = mailbox.wait_for().token
    _forgot(client, "alice@example.test")
    newer = mailbox.wait_for().token
    assert _reset(client, newer).status_code == 204
    assert _reset(client, older, NEWER).status_code == 400


def test_a_password_change_by_any_path_ends_a_reset_token(client, alice_verified, login, mailbox):
    _forgot(client, "alice@example.test")
    token = mailbox.wait_for().token
    session = login("alice")
    changed = client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": NEWER},
        headers=session.headers,
    )
    assert changed.status_code == 204
    refused = _reset(client, token)
    assert refused.status_code == 400
    assert refused.get_json()["detail"] == "token no longer valid"


def test_a_reset_token_expires(client, alice_verified, mailbox, clock):
    _forgot(client, "alice@example.test")
    token = mailbox.wait_for().token
    clock.shift(1801)
    refused = _reset(client, token)
    assert refused.status_code == 400
    assert refused.get_json()["detail"] == "token expired"


def test_a_weak_new_password_is_422_and_keeps_the_token(client, alice_verified, mailbox):
    _forgot(client, "alice@example.test")
    token = mailbox.wait_for().token
    assert _reset(client, token, "short").status_code == 422
    assert _reset(client, token).status_code == 204


def test_a_reset_leaves_totp_on(client, make_user, verified_address, login, enrol, mailbox):
    make_user("alice")
    enrol(login("alice"))
    verified_address("alice", "alice@example.test")
    _forgot(client, "alice@example.test")
    assert _reset(client, mailbox.wait_for().token).status_code == 204
    answer = client.post("/login", json={"username": "alice", "password": NEW})
    assert answer.status_code == 401
    assert answer.get_json()["mfa_required"] is True


def test_no_reset_for_an_unverified_address(client, make_user, cli, mailbox):
    make_user("alice")
    cli("users", "set-email", "alice", "alice@example.test")
    mailbox.wait_for()  # the verification link, not followed
    assert _forgot(client, "alice@example.test").status_code == 202
    assert _no_more_mail(mailbox)


def test_other_mail_tokens_are_refused_here(client, make_user, cli, mailbox):
    make_user("alice")
    cli("users", "set-email", "alice", "alice@example.test")
    verification = mailbox.wait_for().token
    refused = _reset(client, verification)
    assert refused.status_code == 400
    assert refused.get_json()["detail"] == "wrong token type"


def test_forgot_is_throttled_per_client_address_the_same_for_unknown_ones(client, alice_verified):
    known = [_forgot(client, f"alice{n}@example.test").status_code for n in range(5)]
    assert known == [202] * 5
    refused = [_forgot(client, address) for address in ("alice@example.test", "x@example.test")]
    assert [answer.status_code for answer in refused] == [429, 429]
    assert refused[0].get_data() == refused[1].get_data()
    assert "Retry-After" in refused[0].headers


def test_forgot_is_throttled_per_target_address_across_clients(app, client, alice_verified):
    answers = [
        client.post(
            "/password/forgot",
            json={"email": "nobody@example.test"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
        ).status_code
        for n in range(6)
    ]
    assert answers == [202] * 5 + [429]


def test_a_mailed_token_is_never_in_the_audit_log(client, alice_verified, mailbox, caplog):
    _forgot(client, "alice@example.test")
    token = mailbox.wait_for().token
    _reset(client, token)
    assert token not in caplog.text


def test_a_session_s_tokens_are_no_reset_token(client, make_user, login):
    make_user("alice")
    session = login("alice")
    for token in (session.access_token, session.refresh_token):
        refused = _reset(client, token)
        assert refused.status_code == 400
        assert refused.get_json()["detail"] == "wrong token type"


def test_a_reset_token_opens_no_resource_and_refreshes_nothing(client, alice_verified, mailbox):
    assert _forgot(client, "alice@example.test").status_code == 202
    token = mailbox.wait_for().token
    as_bearer = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    assert as_bearer.get_json()["detail"] == "wrong token type"
    as_refresh = client.post("/refresh", json={"refresh_token": token})
    assert as_refresh.status_code == 401
    assert as_refresh.get_json()["detail"] == "wrong token type"
    assert _reset(client, token).status_code == 204  # still good where it belongs
