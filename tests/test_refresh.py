"""POST /refresh: rotation, theft detection, and every state that stops a refresh."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from support.accounts import PASSWORD

from api.database import db
from api.models import LoginSession


def _refresh(client, token):
    return client.post("/refresh", json={"refresh_token": token})


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_refresh_rotates_the_pair_and_spends_the_old_token(client, alice):
    response = _refresh(client, alice.refresh_token)
    assert response.status_code == 200
    pair = response.get_json()
    assert pair["token_type"] == "Bearer"
    assert pair["refresh_token"] != alice.refresh_token
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/me", headers=_bearer(pair["access_token"])).status_code == 200
    assert _refresh(client, pair["refresh_token"]).status_code == 200


def test_previous_access_token_stays_valid_after_a_refresh(client, alice):
    assert _refresh(client, alice.refresh_token).status_code == 200
    assert client.get("/me", headers=alice.headers).status_code == 200


# Past REFRESH_REUSE_LEEWAY (10 s): a reuse is a theft signal, no longer a client race.
AFTER_THE_LEEWAY = 11


def test_reused_refresh_token_revokes_the_session_for_both_holders(clock, client, alice):
    owner = _refresh(client, alice.refresh_token).get_json()
    clock.shift(AFTER_THE_LEEWAY)
    theft = _refresh(client, alice.refresh_token)
    assert theft.status_code == 401
    assert theft.get_json()["detail"] == "refresh token reused; session revoked"
    assert _refresh(client, owner["refresh_token"]).status_code == 401
    assert client.get("/me", headers=_bearer(owner["access_token"])).status_code == 401
    assert client.get("/me", headers=alice.headers).status_code == 401


def test_reuse_in_one_session_leaves_other_sessions_alone(clock, client, login, alice):
    other = login("alice")
    _refresh(client, alice.refresh_token)
    clock.shift(AFTER_THE_LEEWAY)
    assert _refresh(client, alice.refresh_token).status_code == 401
    assert client.get("/me", headers=other.headers).status_code == 200


@pytest.mark.parametrize("workers", [20])
def test_concurrent_refreshes_with_one_token_have_exactly_one_winner(app, alice, workers):
    # With no leeway, every loser of the compare-and-swap is refused: one winner shows.
    app.config["REFRESH_REUSE_LEEWAY"] = 0

    def attempt(_):
        return _refresh(app.test_client(), alice.refresh_token).status_code

    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(attempt, range(workers)))
    assert statuses.count(200) == 1
    assert statuses.count(401) == workers - 1


def test_database_holds_no_token(app, client, alice):
    _refresh(client, alice.refresh_token)
    with app.app_context():
        rows = db.session.execute(db.select(LoginSession.__table__)).all()
    dump = repr(rows)
    signature = alice.refresh_token.rsplit(".", 1)[1]
    assert signature not in dump
    assert rows[0].refresh_generation == 1


def test_refresh_after_logout_is_refused(client, alice):
    client.post("/logout", headers=alice.headers)
    response = _refresh(client, alice.refresh_token)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "session revoked"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_refresh_after_password_change_from_another_session_is_refused(client, login, alice):
    other = login("alice")
    changed = client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": "a whole new passphrase"},
        headers=other.headers,
    )
    assert changed.status_code == 204
    assert _refresh(client, alice.refresh_token).get_json()["detail"] == "session revoked"
    assert _refresh(client, other.refresh_token).status_code == 200


def test_refresh_after_deactivation_is_refused(client, cli, alice):
    cli("users", "deactivate", "alice")
    assert _refresh(client, alice.refresh_token).status_code == 401


def test_refresh_of_a_deleted_user_is_refused(client, cli, alice):
    cli("users", "delete", "alice", "--yes")
    assert _refresh(client, alice.refresh_token).get_json()["detail"] == "session not found"


def test_refresh_token_expires_after_its_lifetime(clock, client, alice):
    clock.shift(14 * 24 * 3600 + 1)
    response = _refresh(client, alice.refresh_token)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "token expired"


def test_refreshing_cannot_outlive_the_sessions_absolute_lifetime(clock, client, alice):
    token = alice.refresh_token
    for _ in range(2):  # day 13 and day 26: each refresh is inside the token's lifetime
        clock.shift(13 * 24 * 3600)
        response = _refresh(client, token)
        assert response.status_code == 200
        token = response.get_json()["refresh_token"]
    assert response.get_json()["refresh_expires_in"] == 4 * 24 * 3600
    clock.shift(4 * 24 * 3600 + 1)  # day 30 and a second: past the session's 30 days
    response = _refresh(client, token)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "session expired"


def test_access_token_dies_with_its_session(clock, client, alice):
    token = alice.refresh_token
    for _ in range(2):
        clock.shift(13 * 24 * 3600)
        token = _refresh(client, token).get_json()["refresh_token"]
    clock.shift(4 * 24 * 3600 - 600)  # ten minutes before the session's 30 days are up
    pair = _refresh(client, token).get_json()
    assert pair["expires_in"] == 600
    clock.shift(601)  # the access token is 601 s old: young, but its session is over
    response = client.get("/me", headers=_bearer(pair["access_token"]))
    assert response.get_json()["detail"] == "session expired"


@pytest.mark.parametrize(
    "token", ["", "x", "rt.deadbeef.abc", "rt.0.a.b.c", "a" * 5000, "rt..", "at"]
)
def test_malformed_refresh_tokens_are_refused_cleanly(client, token):
    response = _refresh(client, token)
    assert response.status_code in {401, 422}
    assert response.content_type == "application/problem+json"


def test_refresh_rejects_other_fields(client, alice):
    response = client.post("/refresh", json={"refresh_token": alice.refresh_token, "uid": 1})
    assert response.status_code == 422
    assert _refresh(client, alice.refresh_token).status_code == 200
