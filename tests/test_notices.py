"""Security notices: one for each change the contract lists, and for a login from a network
new to the account, mailed over real SMTP to the owner's verified address."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.accounts import PASSWORD, Login, totp_code
from support.authenticator import Authenticator, register_passkey

from api.database import db
from api.models import LoginNetwork, OutboxMail
from api.services import login_networks, mail_messages

ADDRESS = "alice@example.test"
HOME = "192.0.2.10"  # the network the first login came from, in the tests below
ELSEWHERE = "203.0.113.7"


@pytest.fixture
def config(config, mailbox):
    return {**config, "MAIL_URL": mailbox.url}


@pytest.fixture
def owner(make_user, client, verified_address) -> Login:
    """Alice, logged in from HOME before her address was verified (so with no notice)."""
    make_user("alice")
    answer = _login(client, HOME)
    verified_address("alice", ADDRESS)
    body = answer.get_json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    user_id = client.get("/me", headers=headers).get_json()["id"]
    return Login(user_id, body["access_token"], body["refresh_token"])


def _login(client, address: str, **more):
    body = {"username": "alice", "password": PASSWORD, **more}
    answer = client.post("/login", json=body, environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == 200, answer.get_json()
    return answer


def _notice(mailbox, kind: str) -> None:
    """The next mail is the notice ``kind`` to Alice, with a securing link."""
    mail = mailbox.wait_for()
    assert mail.recipients == [ADDRESS]
    assert mail.message["Subject"] == "Security notice"
    assert mail_messages.NOTICES[kind] in mail.text
    assert "/#/secure-account?token=" in mail.text and mail.token.startswith("sa.")


def _notice_kinds(app) -> list[str]:
    """The notices the outbox holds, sent or not: each written with its change."""
    with app.app_context():
        kinds = db.session.scalars(sa.select(OutboxMail.kind).order_by(OutboxMail.id))
        return [kind.removeprefix("notice:") for kind in kinds if kind.startswith("notice:")]


def test_turning_totp_on_and_off_is_noticed(client, owner, enrol, mailbox):
    enrol(owner)
    _notice(mailbox, "totp_enabled")
    assert client.delete("/mfa/totp", headers=owner.headers).status_code == 204
    _notice(mailbox, "totp_disabled")


def test_an_administrator_turning_totp_off_is_noticed(cli, owner, enrol, mailbox):
    enrol(owner)
    _notice(mailbox, "totp_enabled")
    assert cli("users", "mfa-reset", "alice").exit_code == 0
    _notice(mailbox, "totp_disabled")


def test_renewed_recovery_codes_are_noticed(client, owner, enrol, mailbox):
    enrol(owner)
    _notice(mailbox, "totp_enabled")
    assert client.post("/mfa/recovery-codes", headers=owner.headers).status_code == 200
    _notice(mailbox, "recovery_codes_renewed")


def test_adding_and_removing_a_passkey_are_noticed(client, owner, mailbox):
    added = register_passkey(client, owner, Authenticator())
    assert added.status_code == 201
    _notice(mailbox, "passkey_added")
    removed = client.delete(f"/passkeys/{added.get_json()['id']}", headers=owner.headers)
    assert removed.status_code == 204
    _notice(mailbox, "passkey_removed")


def test_a_new_personal_access_token_is_noticed(owner, make_token, mailbox):
    make_token(owner, ["notes:read"])
    _notice(mailbox, "personal_token_created")


def test_a_login_from_a_new_network_is_noticed_once(app, client, owner, mailbox):
    _login(client, ELSEWHERE)
    _notice(mailbox, "new_network_login")
    _login(client, "203.0.113.200")  # the same /24
    _login(client, "192.0.2.99")  # HOME's /24
    assert _notice_kinds(app) == ["new_network_login"]


def test_an_ipv6_login_is_known_by_its_48(app, client, owner, mailbox):
    _login(client, "2001:db8:1:2::1")
    _notice(mailbox, "new_network_login")
    _login(client, "2001:db8:1:ffff::9")
    assert _notice_kinds(app) == ["new_network_login"]


def test_a_known_device_token_logs_in_from_anywhere_without_a_notice(app, client, owner):
    device = _login(client, HOME).get_json()["device_token"]
    _login(client, ELSEWHERE, device_token=device)
    assert _notice_kinds(app) == []
    with app.app_context():  # the network is recorded all the same
        networks = set(db.session.scalars(sa.select(LoginNetwork.network)))
    assert networks == {"192.0.2.0/24", "203.0.113.0/24"}


def test_another_users_device_token_is_no_known_device(app, client, owner, make_user, login):
    make_user("bob")
    bobs = client.post("/login", json={"username": "bob", "password": PASSWORD})
    _login(client, ELSEWHERE, device_token=bobs.get_json()["device_token"])
    assert _notice_kinds(app) == ["new_network_login"]


def test_a_network_unseen_for_90_days_is_new_again(app, clock, client, owner, mailbox):
    clock.shift(89 * 86400)
    _login(client, HOME)
    clock.shift(90 * 86400 + 1)
    _login(client, HOME)
    _notice(mailbox, "new_network_login")
    assert _notice_kinds(app) == ["new_network_login"]


def test_a_second_step_login_from_a_new_network_is_noticed(clock, client, owner, enrol, mailbox):
    secret = enrol(owner).secret
    _notice(mailbox, "totp_enabled")
    clock.shift(30)  # the next code: the one enrolment used works no more
    first = client.post(
        "/login",
        json={"username": "alice", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": ELSEWHERE},
    )
    assert first.status_code == 401
    second = client.post(
        "/login/mfa",
        json={"mfa_token": first.get_json()["mfa_token"], "code": totp_code(secret)},
        environ_base={"REMOTE_ADDR": ELSEWHERE},
    )
    assert second.status_code == 200, second.get_json()
    _notice(mailbox, "new_network_login")


def test_a_passkey_login_from_a_new_network_is_noticed(client, owner, mailbox):
    authenticator = Authenticator(counter=0)
    assert register_passkey(client, owner, authenticator).status_code == 201
    _notice(mailbox, "passkey_added")
    options = client.post("/login/passkey/options").get_json()
    credential = authenticator.assert_(options["options"])
    answer = client.post(
        "/login/passkey",
        json={"state": options["state"], "credential": credential},
        environ_base={"REMOTE_ADDR": ELSEWHERE},
    )
    assert answer.status_code == 200, answer.get_json()
    _notice(mailbox, "new_network_login")


def test_no_notice_without_a_verified_address_but_the_network_is_recorded(app, client, make_user):
    make_user("alice")
    _login(client, ELSEWHERE)
    assert _notice_kinds(app) == []
    with app.app_context():
        assert db.session.scalars(sa.select(LoginNetwork.network)).all() == ["203.0.113.0/24"]


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:203.0.113.7", "203.0.113.0/24"),
        ("unknown", "unknown"),
    ],
)
def test_the_network_of_an_address(address, network):
    assert login_networks.network_of(address) == network
