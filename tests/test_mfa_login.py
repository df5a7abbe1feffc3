"""Logging in in two steps: the password, then a code, with no cookie (MFA-02, MFA-04).

The clock stands still until a test moves it. Alice enrols at 10:00:00, the first second of a
30-second step; her first login comes two minutes later, so no step is near the one accepted
at enrolment unless a test says so.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.accounts import PASSWORD, TOKEN_PAIR_FIELDS, totp_code
from support.forged_tokens import forged_signature, unknown_key
from support.rows import row_counts

from api.credentials import one_time_codes, second_factor_failures
from api.database import db

pytestmark = pytest.mark.usefixtures("clock")
LIMIT = 8  # failed attempts a minute: more than the 5 wrong codes that spend a challenge


@pytest.fixture
def config(config):
    return {**config, "LOGIN_RATE_LIMIT": f"{LIMIT} per minute"}


@pytest.fixture
def enrolled(alice, enrol, clock):
    """Alice with TOTP on; the clock two minutes (four steps) past her enrolment."""
    enrolment = enrol(alice)
    clock.shift(120)
    return enrolment


def _second_step(client, token, **factor):
    return client.post("/login/mfa", json={"mfa_token": token, **factor})


def _wrong(secret: str) -> str:
    """A 6-digit code that no step near now has."""
    near = {totp_code(secret, steps) for steps in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


def test_the_right_password_of_a_totp_user_asks_for_a_code(app, client, enrolled):
    before = row_counts(app)
    response = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    body = response.get_json()
    assert body["mfa_required"] is True
    assert body["mfa_expires_in"] == 300
    assert body["mfa_token"].startswith("mfa.")
    assert "access_token" not in body and "refresh_token" not in body
    after = row_counts(app)
    assert after["login_sessions"] == before["login_sessions"]  # no session yet
    assert after["mfa_challenges"] == before["mfa_challenges"] + 1


def test_the_right_password_is_not_a_failed_attempt(client, enrolled, mfa_token):
    for _ in range(LIMIT + 2):
        mfa_token("alice")


def _answer(client, username, password):
    response = client.post("/login", json={"username": username, "password": password})
    return response.status_code, sorted(response.headers.items()), response.get_data()


def test_a_wrong_password_of_a_totp_user_answers_as_for_anyone(client, enrolled, make_user):
    make_user("bob")
    assert _answer(client, "alice", "not the password") == _answer(
        client, "bob", "not the password"
    )
    assert _answer(client, "alice", "not the password") == _answer(
        client, "mallory", "not the password"
    )


def test_a_wrong_password_of_a_totp_user_costs_one_verification(client, enrolled, hasher):
    client.post("/login", json={"username": "alice", "password": "not the password"})
    client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert hasher.verifications == 2


def test_the_second_step_answers_a_token_pair(client, enrolled, mfa_token):
    response = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == TOKEN_PAIR_FIELDS | {"device_token"}
    me = client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.get_json()["username"] == "alice"
    refreshed = client.post("/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_a_code_one_step_either_side_of_now_is_accepted(client, enrolled, mfa_token, steps):
    response = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret, steps))
    assert response.status_code == 200


@pytest.mark.parametrize("steps", [-2, 2])
def test_a_code_two_steps_away_is_refused(client, enrolled, mfa_token, steps):
    response = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret, steps))
    assert response.status_code == 401
    assert response.get_json()["detail"] == "wrong code"


@pytest.mark.parametrize("into_step", [0, 29])
def test_the_window_moves_with_the_step_not_the_second(
    client, clock, enrolled, mfa_token, into_step
):
    clock.shift(into_step)
    response = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret, -1))
    assert response.status_code == 200


def test_a_code_is_accepted_once(client, clock, enrolled, mfa_token):
    code = totp_code(enrolled.secret)
    assert _second_step(client, mfa_token("alice"), code=code).status_code == 200
    clock.shift(10)  # still inside its 30 seconds
    replay = _second_step(client, mfa_token("alice"), code=code)
    assert replay.status_code == 401


def test_an_older_code_is_refused_after_a_newer_one(client, enrolled, mfa_token):
    newer = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret, 1))
    assert newer.status_code == 200
    for steps in (0, -1):
        older = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret, steps))
        assert older.status_code == 401


def test_the_code_of_the_enrolment_does_not_log_in(client, alice, enrol, mfa_token, clock):
    enrolled = enrol(alice)
    clock.shift(10)
    response = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret))
    assert response.status_code == 401


def test_five_wrong_codes_spend_the_mfa_token(client, clock, enrolled, mfa_token):
    token = mfa_token("alice")
    wrong = _wrong(enrolled.secret)
    details = [_second_step(client, token, code=wrong).get_json()["detail"] for _ in range(5)]
    assert details == ["wrong code"] * 4 + ["wrong code; too many wrong codes: log in again"]
    right = _second_step(client, token, code=totp_code(enrolled.secret))
    assert right.status_code == 401
    assert right.get_json()["detail"] == "mfa_token already used"
    clock.shift(1)  # five wrong codes in a row: the account's next code waits a second
    fresh = _second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret))
    assert fresh.status_code == 200


def test_a_success_spends_the_mfa_token(client, clock, enrolled, mfa_token):
    token = mfa_token("alice")
    assert _second_step(client, token, code=totp_code(enrolled.secret)).status_code == 200
    clock.shift(30)
    again = _second_step(client, token, code=totp_code(enrolled.secret))
    assert again.status_code == 401
    assert again.get_json()["detail"] == "mfa_token already used"


def test_the_mfa_token_expires(client, clock, enrolled, mfa_token):
    token = mfa_token("alice")
    clock.shift(300)
    assert _second_step(client, token, code=totp_code(enrolled.secret, -1)).status_code == 200
    token = mfa_token("alice")
    clock.shift(301)
    expired = _second_step(client, token, code=totp_code(enrolled.secret))
    assert expired.status_code == 401
    assert expired.get_json()["detail"] == "token expired"


def test_a_recovery_code_works_once(client, enrolled, mfa_token):
    code = enrolled.recovery_codes[0]
    assert _second_step(client, mfa_token("alice"), recovery_code=code).status_code == 200
    again = _second_step(client, mfa_token("alice"), recovery_code=code)
    assert again.status_code == 401
    assert again.get_json()["detail"] == "wrong code"


def test_a_recovery_code_may_be_typed_without_dashes_in_any_case(client, enrolled, mfa_token):
    typed = enrolled.recovery_codes[1].replace("-", "").lower()
    assert _second_step(client, mfa_token("alice"), recovery_code=typed).status_code == 200


def test_a_recovery_code_leaves_one_fewer(client, enrolled, mfa_token):
    body = _second_step(
        client, mfa_token("alice"), recovery_code=enrolled.recovery_codes[2]
    ).get_json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/mfa", headers=headers).get_json()["recovery_codes_left"] == 9


def test_another_users_recovery_code_is_refused(client, enrolled, make_user, login, enrol):
    make_user("bob")
    bobs = enrol(login("bob")).recovery_codes
    token = client.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    response = _second_step(client, token["mfa_token"], recovery_code=bobs[0])
    assert response.status_code == 401


BAD_BODIES = {
    "code too short": {"code": "12345"},
    "code too long": {"code": "1234567"},
    "code with a letter": {"code": "12345a"},
    "code as a number": {"code": 123456},
    "code with a newline": {"code": "123456\n"},
    "recovery code with 0 and 1": {"recovery_code": "0000-1111-0000-1111"},
    "recovery code too short": {"recovery_code": "ABCD-EFGH-IJKL"},
    "recovery code too long": {"recovery_code": "ABCD-EFGH-IJKL-MNOP-QRST"},
    "recovery code, misplaced dash": {"recovery_code": "ABC-DEFGH-IJKL-MNOP"},
    "both": {"code": "123456", "recovery_code": "ABCD-EFGH-IJKL-MNOP"},
    "neither": {},
    "unknown field": {"code": "123456", "remember": True},
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_malformed_second_step_is_422_and_changes_nothing(app, client, enrolled, case):
    token = client.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    before = row_counts(app)
    response = _second_step(client, token["mfa_token"], **BAD_BODIES[case])
    assert response.status_code == 422
    assert row_counts(app) == before
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT max(failures) FROM mfa_challenges")) == 0
    # Not counted: the right code still works, after as many malformed tries as the limit.
    for _ in range(LIMIT):
        _second_step(client, token["mfa_token"], **BAD_BODIES[case])
    assert (
        _second_step(client, token["mfa_token"], code=totp_code(enrolled.secret)).status_code == 200
    )


def _refused_mfa_tokens(client, enrolled, make_token, alice):
    token = client.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    pat = make_token(alice, ["notes:read"])
    return {
        "tampered": forged_signature(token["mfa_token"]),
        "unknown key": unknown_key(token["mfa_token"]),
        "an access token": alice.access_token,
        "a refresh token": alice.refresh_token,
        "a personal access token": pat.token,
        "garbage": "mfa.nothing",
    }


def test_a_bad_mfa_token_is_401_and_changes_nothing(app, client, enrolled, make_token, alice):
    refused = _refused_mfa_tokens(client, enrolled, make_token, alice)
    before = row_counts(app)
    details = {}
    for name, token in refused.items():
        response = _second_step(client, token, code=totp_code(enrolled.secret))
        assert response.status_code == 401, name
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"', name
        details[name] = response.get_json()["detail"]
    assert row_counts(app) == before
    assert details["tampered"] == "invalid signature"
    assert details["an access token"] == "wrong token type"
    assert details["a refresh token"] == "wrong token type"
    assert details["a personal access token"] == "wrong token type"


def test_an_mfa_token_is_no_bearer_token(client, enrolled, mfa_token, queries):
    token = mfa_token("alice")
    queries.clear()
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_token", error_description="wrong token type"'
    )
    assert queries == []  # refused before any query


def test_revoking_an_mfa_token_ends_it_and_nothing_else(client, enrolled, mfa_token):
    token, kept = mfa_token("alice"), mfa_token("alice")
    assert client.post("/revoke", json={"token": token}).status_code == 204
    assert _second_step(client, token, code=totp_code(enrolled.secret)).status_code == 401
    assert _second_step(client, kept, code=totp_code(enrolled.secret)).status_code == 200


def test_wrong_codes_are_failed_attempts_on_the_passwords_counters(
    client, clock, enrolled, mfa_token
):
    wrong = _wrong(enrolled.secret)
    # Four wrong codes a challenge, so that none is spent: only the limiter refuses.
    tokens = [mfa_token("alice") for _ in range(LIMIT // 4 + 1)]
    for attempt in range(LIMIT):
        clock.shift(second_factor_failures.delay(attempt))  # past the account's own delay
        assert _second_step(client, tokens[attempt // 4], code=wrong).status_code == 401
    limited = _second_step(client, tokens[-1], code=totp_code(enrolled.secret))
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    password = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert password.status_code == 429  # the same username counter


def test_wrong_codes_count_on_the_client_address_too(client, clock, enrolled, mfa_token, make_user):
    make_user("bob")
    wrong = _wrong(enrolled.secret)
    tokens = [mfa_token("alice") for _ in range(LIMIT // 4)]
    for attempt in range(LIMIT):
        clock.shift(second_factor_failures.delay(attempt))  # past the account's own delay
        assert _second_step(client, tokens[attempt // 4], code=wrong).status_code == 401
    bob = client.post("/login", json={"username": "bob", "password": PASSWORD})
    assert bob.status_code == 429  # same address, another username


def test_the_second_step_verifies_no_password(client, enrolled, mfa_token, hasher):
    token = mfa_token("alice")
    hasher.verifications = hasher.hashes = 0
    assert _second_step(client, token, code=totp_code(enrolled.secret)).status_code == 200
    wrong = _second_step(client, mfa_token("alice"), code=_wrong(enrolled.secret))
    assert wrong.status_code == 401
    assert hasher.verifications == 1  # the second /login's, none at /login/mfa
    assert hasher.hashes == 0


def test_the_second_step_costs_at_most_three_hmacs_and_a_few_queries(
    client, enrolled, mfa_token, monkeypatch, queries
):
    computed = []
    code_at_step = one_time_codes.code_at_step

    def counting(secret, step):
        computed.append(step)
        return code_at_step(secret, step)

    monkeypatch.setattr(one_time_codes, "code_at_step", counting)
    token = mfa_token("alice")
    queries.clear()
    assert _second_step(client, token, code=_wrong(enrolled.secret)).status_code == 401
    assert len(computed) == 3
    computed.clear()
    queries.clear()
    assert _second_step(client, token, code=totp_code(enrolled.secret, 1)).status_code == 200
    assert len(computed) == 3
    # Read the challenge with its user; count the attempt on the address and the username
    # (each committed at once, after which the user is read again); count the code on the
    # account and on the challenge, claim the step, spend the challenge, open the session (its
    # user's update starts the count again) with the two events it records (the challenge
    # passed, the login), the account's count of wrong codes forgiven and the login's network
    # recorded; give the attempt back on both counters.
    statements = [q.split()[0] for q in queries if q.split()[0] not in {"BEGIN", "COMMIT"}]
    assert statements.count("SELECT") == 2
    assert len(statements) <= 16, queries


def test_a_deactivated_user_cannot_finish_the_second_step(
    client, admin, alice, enrolled, mfa_token
):
    token = mfa_token("alice")
    client.patch(f"/users/{alice.user_id}", json={"is_active": False}, headers=admin.headers)
    response = _second_step(client, token, code=totp_code(enrolled.secret))
    assert response.status_code == 401


def test_turning_totp_off_spends_the_live_mfa_tokens(client, alice, enrolled, mfa_token):
    token = mfa_token("alice")
    assert client.delete("/mfa/totp", headers=alice.headers).status_code == 204
    response = _second_step(client, token, code=totp_code(enrolled.secret))
    assert response.status_code == 401
