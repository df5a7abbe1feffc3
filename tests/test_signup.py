"""``POST /signup``, ``POST /signup/verify`` and invitations, under ``SIGNUP_POLICY``."""

from __future__ import annotations

import queue

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.accounts import PASSWORD

from api.credentials import addresses
from api.database import db
from api.models import OutboxMail, User
from api.services import outbox


@pytest.fixture
def policy():
    return "open"


@pytest.fixture
def config(config, mailbox, policy):
    return {**config, "MAIL_URL": mailbox.url, "SIGNUP_POLICY": policy}


def _signup(client, username="carol", email="carol@example.test", password=PASSWORD, **more):
    body = {"username": username, "email": email, "password": password, **more}
    return client.post("/signup", json=body)


def _no_more_mail(mailbox) -> bool:
    try:
        mailbox.arrivals.get(timeout=0.5)
    except queue.Empty:
        return True
    return False


def test_open_signup_makes_the_account_only_once_the_address_is_verified(client, mailbox, app):
    answer = _signup(client)
    assert answer.status_code == 202
    assert (
        client.post("/login", json={"username": "carol", "password": PASSWORD}).status_code == 401
    )
    mail = mailbox.wait_for()
    assert mail.recipients == ["carol@example.test"]
    verified = client.post("/signup/verify", json={"token": mail.token})
    assert verified.status_code == 201
    assert verified.get_json()["username"] == "carol"
    assert verified.get_json()["email"] == "carol@example.test"
    login = client.post("/login", json={"username": "carol", "password": PASSWORD})
    assert login.status_code == 200
    me = client.get("/me", headers={"Authorization": f"Bearer {login.get_json()['access_token']}"})
    assert me.get_json()["email_verified"] is True
    again = client.post("/signup/verify", json={"token": mail.token})
    assert again.status_code == 400


def test_a_taken_name_or_address_answers_the_same_and_only_the_mailbox_learns(
    client, make_user, verified_address, mailbox
):
    make_user("alice")
    verified_address("alice", "alice@example.test")
    free = _signup(client, "carol", "carol@example.test")
    taken_address = _signup(client, "dave", "ALICE@example.test")
    taken_name = _signup(client, "alice", "erin@example.test")
    assert free.status_code == taken_address.status_code == taken_name.status_code == 202
    assert free.get_data() == taken_address.get_data() == taken_name.get_data()
    mails = {mail.recipients[0]: mail for mail in (mailbox.wait_for() for _ in range(3))}
    assert "Or use this token:" in mails["carol@example.test"].text
    assert "already has an account" in mails["ALICE@example.test"].text
    assert "username asked for is taken" in mails["erin@example.test"].text


def test_signup_hashes_once_whether_or_not_the_name_is_taken(client, make_user, hasher):
    make_user("alice")
    before = hasher.hashes
    _signup(client, "alice", "a1@example.test")
    taken = hasher.hashes - before
    before = hasher.hashes
    _signup(client, "carol", "a2@example.test")
    assert taken == hasher.hashes - before == 1


def test_a_name_taken_meanwhile_is_409_and_ends_the_pending_signup(client, make_user, mailbox):
    _signup(client, "carol", "carol@example.test")
    token = mailbox.wait_for().token
    make_user("Carol")
    conflict = client.post("/signup/verify", json={"token": token})
    assert conflict.status_code == 409
    assert client.post("/signup/verify", json={"token": token}).status_code == 400


def test_a_pending_signup_expires(client, mailbox, clock):
    _signup(client)
    token = mailbox.wait_for().token
    clock.shift(86401)
    assert client.post("/signup/verify", json={"token": token}).status_code == 400


@pytest.mark.parametrize(
    "email",
    [
        "a@x.test\r\nBcc: b@y.test",
        "a@x.test, b@y.test",
        "A <a@x.test>",
        "a@x",
        "a" * 250 + "@x.test",
    ],
)
def test_header_injection_and_second_addresses_are_422_and_mail_no_one(client, mailbox, email):
    answer = _signup(client, email=email)
    assert answer.status_code == 422
    assert "email" in answer.get_json()["errors"]
    assert _no_more_mail(mailbox)


def test_email_and_invite_token_together_are_422(client):
    answer = _signup(client, invite_token="iv.x.y")
    assert answer.status_code == 422


@pytest.mark.parametrize("policy", ["closed", "invite"])
def test_signup_without_an_invitation_is_403_before_the_body_is_read(client, policy):
    assert _signup(client).status_code == 403
    assert client.post("/signup", json={"nonsense": 1}).status_code == 403


@pytest.mark.parametrize("policy", ["invite"])
def test_an_invitation_opens_an_account_at_once_and_works_once(client, admin, mailbox, policy):
    invited = client.post(
        "/users/invite", json={"email": "dan@example.test"}, headers=admin.headers
    )
    assert invited.status_code == 202
    token = mailbox.wait_for().token
    body = {"invite_token": token, "username": "dan", "password": PASSWORD}
    made = client.post("/signup", json=body)
    assert made.status_code == 201
    assert made.get_json()["email"] == "dan@example.test"
    assert made.get_json()["is_admin"] is False
    again = client.post("/signup", json={**body, "username": "dan2"})
    assert again.status_code == 400


def test_inviting_an_address_that_has_an_account_is_409(client, admin, make_user, cli, mailbox):
    make_user("alice")
    cli("users", "set-email", "alice", "alice@example.test")
    answer = client.post(
        "/users/invite", json={"email": "Alice@example.test"}, headers=admin.headers
    )
    assert answer.status_code == 409


def test_manage_py_invites_an_admin(app, cli, client, mailbox):
    result = cli("users", "invite", "root@example.test", "--admin")
    assert result.exit_code == 0, result.output
    token = mailbox.wait_for().token
    body = {"invite_token": token, "username": "root2", "password": PASSWORD}
    assert client.post("/signup", json=body).get_json()["is_admin"] is True
    with app.app_context():
        assert db.session.query(User).filter_by(username="root2").one().email_verified


def test_a_non_admin_cannot_invite(client, alice):
    answer = client.post("/users/invite", json={"email": "x@example.test"}, headers=alice.headers)
    assert answer.status_code == 403


ADDRESSES = st.one_of(
    st.emails(),
    st.text(max_size=300),
    st.builds(
        lambda a, sep, b: f"{a}{sep}{b}",
        st.emails(),
        st.sampled_from(["\r\n", "\n", ",", " ", "\r\nBcc: ", ";", "\x00"]),
        st.emails(),
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    address=ADDRESSES,
    username=st.one_of(st.text(max_size=70), st.from_regex(r"[a-z]{3,10}", fullmatch=True)),
)
def test_any_address_or_name_is_answered_2xx_or_4xx_and_mails_only_one_clean_address(
    app, client, address, username
):
    app.config["MAIL_URL"] = None
    app.config["SIGNUP_POLICY"] = "open"
    answers = [
        client.post("/signup", json={"username": username, "email": address, "password": PASSWORD}),
        client.post("/password/forgot", json={"email": address}),
    ]
    assert all(200 <= answer.status_code < 500 for answer in answers)
    with app.app_context():
        mails = sa.select(OutboxMail.recipient).where(OutboxMail.kind != outbox.DECOY)
        recipients = list(db.session.scalars(mails))
    for recipient in recipients:
        assert addresses.normalize_address(recipient) == recipient
        assert not set(recipient) & set("\r\n,; <>\x00")
