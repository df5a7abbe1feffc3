"""Invariants that span rows hold under concurrent requests, and a row deleted under a running
request gives a clean 404 or 401, never a 500. Each race is made to happen, not hoped for."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.accounts import PASSWORD

from api.credentials import passwords
from api.origin import CLI
from api.services import accounts

# Long enough for the other request to reach the same point, were nothing to stop it.
MEETING_TIMEOUT = 2.0


@pytest.fixture
def two_admins(make_user, login):
    make_user("root", is_admin=True)
    make_user("toor", is_admin=True)
    return login("root"), login("toor")


@pytest.fixture
def meet_after_the_check(monkeypatch):
    """Make both requests wait, once past the last-admin check, for the other to get there.

    Counted then written without a lock, both would pass; under the lock the second request
    cannot pass the check before the first has committed, so the first waits in vain.
    """
    meeting = threading.Barrier(2, timeout=MEETING_TIMEOUT)
    checked = accounts._refuse_losing_last_admin

    def check_then_meet(user, change):
        checked(user, change)
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait()

    monkeypatch.setattr(accounts, "_refuse_losing_last_admin", check_then_meet)


def _at_once(*requests):
    with ThreadPoolExecutor(len(requests)) as pool:
        return [future.result() for future in [pool.submit(request) for request in requests]]


def _active_admins(client, token) -> list[str]:
    users = client.get("/users", headers=token.headers).get_json()["items"]
    return [u["username"] for u in users if u["is_admin"] and u["is_active"]]


def test_two_admins_demoting_themselves_at_once_leave_one_admin(
    app, two_admins, meet_after_the_check
):
    root, toor = two_admins

    def demote(admin):
        return lambda: app.test_client().patch(
            f"/users/{admin.user_id}", json={"is_admin": False}, headers=admin.headers
        )

    statuses = sorted(r.status_code for r in _at_once(demote(root), demote(toor)))
    assert statuses == [200, 409]
    client = app.test_client()
    remaining = [a for a in two_admins if client.get("/me", headers=a.headers).json["is_admin"]]
    assert len(remaining) == 1
    assert _active_admins(client, remaining[0]) == [
        client.get("/me", headers=remaining[0].headers).json["username"]
    ]


def test_two_admins_deleting_each_other_at_once_leave_one_admin(
    app, two_admins, meet_after_the_check
):
    root, toor = two_admins

    def delete(actor, victim):
        return lambda: app.test_client().delete(f"/users/{victim.user_id}", headers=actor.headers)

    statuses = sorted(r.status_code for r in _at_once(delete(root, toor), delete(toor, root)))
    assert statuses == [204, 409]
    with app.app_context():
        left = [u.username for u in accounts.all_users() if u.is_admin and u.is_active]
    assert len(left) == 1


def test_deactivating_and_demoting_the_two_admins_at_once_leave_one_admin(
    app, two_admins, meet_after_the_check
):
    root, toor = two_admins
    responses = _at_once(
        lambda: app.test_client().patch(
            f"/users/{toor.user_id}", json={"is_active": False}, headers=root.headers
        ),
        lambda: app.test_client().patch(
            f"/users/{root.user_id}", json={"is_admin": False}, headers=toor.headers
        ),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    with app.app_context():
        left = [u.username for u in accounts.all_users() if u.is_admin and u.is_active]
    assert len(left) == 1


@pytest.fixture
def delete_during_hashing(app, monkeypatch):
    """Delete a user, from another request's session, while a password is being checked or
    hashed for them: the moment a running request has read the row and not yet written it."""
    hashing = app.extensions["tessera.passwords"]
    victim: dict[str, str] = {}

    def delete_victim():
        name = victim.pop("name", None)
        if name is not None:
            with app.app_context():
                accounts.delete_user(accounts.get_user(name), origin=CLI)

    verify, make_hash = hashing.verify, hashing.hash

    def verify_then_delete(password_hash, password):
        verified = verify(password_hash, password)
        delete_victim()
        return verified

    def hash_then_delete(password):
        made = make_hash(password)
        delete_victim()
        return made

    monkeypatch.setattr(hashing, "verify", verify_then_delete)
    monkeypatch.setattr(hashing, "hash", hash_then_delete)
    return victim


def test_a_login_whose_user_is_deleted_meanwhile_is_refused_as_wrong_credentials(
    client, make_user, delete_during_hashing
):
    make_user("alice")
    delete_during_hashing["name"] = "alice"
    response = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "invalid username or password"


def test_a_password_change_whose_user_is_deleted_meanwhile_is_401(
    client, alice, delete_during_hashing
):
    delete_during_hashing["name"] = "alice"
    response = client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=alice.headers,
    )
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"


def test_an_admin_change_to_a_user_deleted_meanwhile_is_404(
    client, admin, make_user, delete_during_hashing
):
    bob = make_user("bob")
    delete_during_hashing["name"] = "bob"
    response = client.patch(
        f"/users/{bob}", json={"password": "a brand new passphrase"}, headers=admin.headers
    )
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_the_hashing_hooks_are_the_apps_own(app):
    assert isinstance(app.extensions["tessera.passwords"], passwords.PasswordHashing)
