"""Addresses on accounts: ``POST /email``, ``POST /email/verify``, notices and
``POST /account/secure``, ``email`` on ``/me`` and in user records, and the CLI."""

from __future__ import annotations

import pytest
from support.accounts import PASSWORD


@pytest.fixture
def config(config, mailbox):
    return {**config, "MAIL_URL": mailbox.url}


def _change(client, owner, email):
    return client.post("/email", json={"email": email}, headers=owner.headers)


def test_me_shows_no_address_until_one_is_set(client, alice):
    me = client.get("/me", headers=alice.headers).get_json()
    assert me["email"] is None and me["email_verified"] is False


def test_an_address_change_needs_the_new_mailbox_and_tells_the_old_one(
    client, make_user, verified_address, login, mailbox
):
    make_user("alice")
    verified_address("alice", "alice@example.test")
    alice = login("alice")
    assert _change(client, alice, "new@example.test").status_code == 202
    mails = {mail.recipients[0]: mail for mail in (mailbox.wait_for(), mailbox.wait_for())}
    assert mails["alice@example.test"].message["Subject"] == "Security notice"
    me = client.get("/me", headers=alice.headers).get_json()
    assert me["email"] == "alice@example.test"  # unchanged until the new one is proved
    token = mails["new@example.test"].token
    assert client.post("/email/verify", json={"token": token}).status_code == 204
    me = client.get("/me", headers=alice.headers).get_json()
    assert (me["email"], me["email_verified"]) == ("new@example.test", True)
    assert client.post("/email/verify", json={"token": token}).status_code == 400


def test_an_address_change_needs_a_fresh_login(clock, client, alice):
    clock.shift(601)  # the access token lives 900 s; the login is fresh for 600
    answer = _change(client, alice, "new@example.test")
    assert answer.status_code == 401
    assert "insufficient_user_authentication" in answer.headers["WWW-Authenticate"]


def test_a_pat_cannot_change_the_address(client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    assert _change(client, pat, "new@example.test").status_code == 403


def test_an_address_another_account_has_answers_the_same_and_gets_a_note(
    client, make_user, cli, login, mailbox
):
    make_user("bob")
    cli("users", "set-email", "bob", "bob@example.test")
    mailbox.wait_for()
    make_user("alice")
    alice = login("alice")
    taken = _change(client, alice, "BOB@example.test")
    free = _change(client, alice, "free@example.test")
    assert taken.status_code == free.status_code == 202
    assert taken.get_data() == free.get_data()
    note, link = mailbox.wait_for(), mailbox.wait_for()
    assert note.recipients == ["BOB@example.test"] and "Nothing changed" in note.text
    assert link.recipients == ["free@example.test"] and "Or use this token:" in link.text


def test_the_securing_link_of_a_notice_ends_every_session_and_pat(
    client, make_user, verified_address, login, make_token, mailbox
):
    make_user("alice")
    verified_address("alice", "alice@example.test")
    alice = login("alice")
    pat = make_token(alice, ["notes:read"])
    assert [mailbox.wait_for().message["Subject"] for _ in range(2)] == ["Security notice"] * 2
    client.post(  # after the notices of the new network and the PAT
        "/password",
        json={"current_password": PASSWORD, "new_password": "plum-ladder-orbit-nineteen"},
        headers=alice.headers,
    )
    notice = mailbox.wait_for()
    assert "Your password was changed." in notice.text
    assert client.post("/account/secure", json={"token": notice.token}).status_code == 204
    assert client.get("/me", headers=alice.headers).status_code == 401
    assert client.get("/me", headers=pat.headers).status_code == 401
    assert client.post("/account/secure", json={"token": notice.token}).status_code == 400


def test_admins_set_addresses_unverified_and_a_taken_one_is_409(client, admin, mailbox):
    made = client.post(
        "/users",
        json={"username": "carol", "password": PASSWORD, "email": "carol@example.test"},
        headers=admin.headers,
    )
    assert made.status_code == 201
    assert made.get_json()["email"] == "carol@example.test"
    assert mailbox.wait_for().recipients == ["carol@example.test"]
    taken = client.post(
        "/users",
        json={"username": "dave", "password": PASSWORD, "email": "CAROL@example.test"},
        headers=admin.headers,
    )
    assert taken.status_code == 409
    user_id = made.get_json()["id"]
    changed = client.patch(
        f"/users/{user_id}", json={"email": "c2@example.test"}, headers=admin.headers
    )
    assert changed.status_code == 200 and changed.get_json()["email"] == "c2@example.test"
    listed = client.get("/users", headers=admin.headers).get_json()["items"]
    assert {u["username"]: u["email"] for u in listed} == {"root": None, "carol": "c2@example.test"}


def test_a_bad_address_is_422(client, admin):
    answer = client.post(
        "/users",
        json={"username": "carol", "password": PASSWORD, "email": "not an address"},
        headers=admin.headers,
    )
    assert answer.status_code == 422 and "email" in answer.get_json()["errors"]


def test_manage_py_creates_a_user_with_an_address(cli, client, mailbox):
    made = cli(
        "users",
        "create",
        "carol",
        "--email",
        "carol@example.test",
        "--password-stdin",
        input=f"{PASSWORD}\n",
    )
    assert made.exit_code == 0, made.output
    token = mailbox.wait_for().token
    assert client.post("/email/verify", json={"token": token}).status_code == 204
    refused = cli(
        "users", "create", "dave", "--email", "a@b", "--password-stdin", input=f"{PASSWORD}\n"
    )
    assert refused.exit_code == 1
    assert refused.output.startswith("error: email must be")


def test_manage_py_set_email_refuses_a_taken_address(cli, make_user, mailbox):
    make_user("alice")
    make_user("bob")
    assert cli("users", "set-email", "alice", "a@example.test").exit_code == 0
    taken = cli("users", "set-email", "bob", "A@example.test")
    assert taken.exit_code == 1
    assert taken.output.strip() == "error: email address is taken"
