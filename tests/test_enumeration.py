"""No user enumeration: every login attempt costs one password verification and gets one answer.

Counting verifications (as Django's ``test_authentication_timing`` does) proves the work is
the same whether the user exists, is deactivated or is unknown, with no stopwatch; the
benchmark reports the timing itself.
"""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from support.accounts import PASSWORD


@pytest.fixture
def users(make_user):
    make_user("alice")
    make_user("carol", is_active=False)


ATTEMPTS = {
    "right password": ("alice", PASSWORD, 200),
    "wrong password": ("alice", PASSWORD + "!", 401),
    "deactivated, right password": ("carol", PASSWORD, 401),
    "deactivated, wrong password": ("carol", "not the password", 401),
    "unknown user": ("mallory", PASSWORD, 401),
    "name no user can have": ("no such user!", PASSWORD, 401),
    "injection as username": ("admin'--", PASSWORD, 401),
}


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_every_login_attempt_verifies_exactly_one_password(client, users, hasher, attempt):
    username, password, status = ATTEMPTS[attempt]
    response = client.post("/login", json={"username": username, "password": password})
    assert response.status_code == status
    assert hasher.verifications == 1


def test_a_refused_login_hashes_nothing(client, users, hasher):
    for username, password, status in ATTEMPTS.values():
        if status == 401:
            client.post("/login", json={"username": username, "password": password})
    assert hasher.hashes == 0


def _answer(client, username, password):
    response = client.post("/login", json={"username": username, "password": password})
    headers = sorted((k, v) for k, v in response.headers.items())
    return response.status_code, headers, response.get_data()


def test_every_refused_login_gets_the_same_status_headers_and_body(client, users):
    answers = {
        name: _answer(client, username, password)
        for name, (username, password, status) in ATTEMPTS.items()
        if status == 401
    }
    first = next(iter(answers.values()))
    assert first[0] == 401
    assert b"invalid username or password" in first[2]
    assert all(answer == first for answer in answers.values()), answers


def test_an_unknown_user_costs_a_verification_with_the_same_parameters(client, users, hasher):
    client.post("/login", json={"username": "alice", "password": "not the password"})
    client.post("/login", json={"username": "mallory", "password": "not the password"})
    real, dummy = (extract_parameters(password_hash) for password_hash in hasher.verified)
    assert dummy == real


def test_a_lookalike_username_is_the_same_user(client, users, admin):
    fullwidth = "\uff41\uff4c\uff49\uff43\uff45"  # "alice" in fullwidth forms; NFKC folds it
    body = {"username": fullwidth, "password": "a fresh passphrase"}
    # Refused either way: the API takes ASCII names only (422), the service folds to "alice".
    assert client.post("/users", json=body, headers=admin.headers).status_code in (409, 422)
    assert _answer(client, fullwidth, PASSWORD)[0] == 200
