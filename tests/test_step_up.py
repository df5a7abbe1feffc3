"""Step-up (RFC 9470): fresh operations need a recent proof, which a refresh does not renew and
``POST /reauthenticate`` does, in the same session (STEP-01, ATT-01)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from support.accounts import PASSWORD, TOKEN_PAIR_FIELDS, totp_code

from api import create_app
from api.database import db
from api.models import utcnow

pytestmark = pytest.mark.usefixtures("clock")
LIMIT = 4  # failed attempts a minute
STALE = (
    'Bearer realm="api", error="insufficient_user_authentication", '
    'error_description="a more recent login is required", max_age=600'
)


@pytest.fixture
def config(config):
    return {**config, "LOGIN_RATE_LIMIT": f"{LIMIT} per minute", "REFRESH_REUSE_LEEWAY": 0}


def _new_token(client, login):
    return client.post(
        "/tokens", json={"name": "ci", "scopes": ["notes:read"]}, headers=login.headers
    )


def _headers(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_a_login_is_fresh_for_exactly_reauth_max_age(client, clock, alice):
    clock.shift(600)
    assert _new_token(client, alice).status_code == 201
    clock.shift(1)
    stale = _new_token(client, alice)
    assert stale.status_code == 401
    assert stale.headers["WWW-Authenticate"] == STALE
    assert stale.get_json()["detail"] == "a more recent login is required"


FRESH_ROUTES = [("POST", "/mfa/totp"), ("DELETE", "/mfa/totp"), ("POST", "/mfa/recovery-codes")]


@pytest.mark.parametrize(("method", "path"), FRESH_ROUTES)
def test_every_fresh_mfa_route_asks_for_a_recent_proof(client, clock, alice, method, path):
    clock.shift(601)
    response = client.open(path, method=method, headers=alice.headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == STALE


def test_a_refresh_does_not_renew_the_proof(client, clock, alice):
    clock.shift(500)
    pair = client.post("/refresh", json={"refresh_token": alice.refresh_token}).get_json()
    clock.shift(101)
    response = client.post(
        "/tokens", json={"name": "ci", "scopes": ["notes:read"]}, headers=_headers(pair)
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == STALE


def test_reauthenticating_renews_the_proof_in_the_same_session(client, clock, alice):
    clock.shift(601)
    response = client.post("/reauthenticate", json={"password": PASSWORD}, headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    pair = response.get_json()
    assert set(pair) == TOKEN_PAIR_FIELDS
    # The same session: one live session, the current one, for the old and the new token.
    for headers in (alice.headers, _headers(pair)):
        sessions = client.get("/sessions", headers=headers).get_json()
        assert sessions["total"] == 1 and sessions["items"][0]["current"] is True
    # The proof counts for the session: the old access token is fresh too.
    assert _new_token(client, alice).status_code == 201
    clock.shift(600)
    assert (
        client.post(
            "/tokens", json={"name": "x", "scopes": ["notes:read"]}, headers=_headers(pair)
        ).status_code
        == 201
    )
    clock.shift(1)
    assert _new_token(client, alice).status_code == 401


def test_the_new_refresh_token_replaces_the_old_one(client, clock, alice):
    clock.shift(601)
    pair = client.post(
        "/reauthenticate", json={"password": PASSWORD}, headers=alice.headers
    ).get_json()
    assert client.post("/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 200


def test_a_wrong_password_is_403_and_a_failed_attempt(client, alice):
    for _ in range(LIMIT):
        wrong = client.post(
            "/reauthenticate", json={"password": "not the password"}, headers=alice.headers
        )
        assert wrong.status_code == 403
        assert wrong.get_json()["detail"] == "wrong password or code"
    limited = client.post("/reauthenticate", json={"password": PASSWORD}, headers=alice.headers)
    assert limited.status_code == 429
    assert (
        client.post("/login", json={"username": "alice", "password": PASSWORD}).status_code == 429
    )


def test_a_totp_user_reauthenticates_with_the_password_and_a_code(client, clock, alice, enrol):
    enrolled = enrol(alice)
    clock.shift(601)
    missing = client.post("/reauthenticate", json={"password": PASSWORD}, headers=alice.headers)
    assert missing.status_code == 422
    assert "code" in missing.get_json()["errors"]
    body = {"password": PASSWORD, "code": totp_code(enrolled.secret)}
    assert client.post("/reauthenticate", json=body, headers=alice.headers).status_code == 200
    assert _new_token(client, alice).status_code == 201


def test_the_code_being_missing_says_nothing_of_the_password(client, alice, enrol):
    enrol(alice)
    answers = {
        password: client.post(
            "/reauthenticate", json={"password": password}, headers=alice.headers
        ).get_data()
        for password in (PASSWORD, "not the password")
    }
    assert answers[PASSWORD] == answers["not the password"]


def test_a_wrong_password_and_a_wrong_code_get_the_same_answer(client, clock, alice, enrol):
    enrolled = enrol(alice)
    clock.shift(60)
    code = totp_code(enrolled.secret)
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    bodies = [
        {"password": "not the password", "code": code},
        {"password": PASSWORD, "code": wrong_code},
    ]
    answers = [
        client.post("/reauthenticate", json=b, headers=alice.headers).get_data() for b in bodies
    ]
    assert answers[0] == answers[1]
    # The wrong password did not spend the right code.
    right = {"password": PASSWORD, "code": code}
    assert client.post("/reauthenticate", json=right, headers=alice.headers).status_code == 200


def test_a_code_used_to_reauthenticate_is_used(client, clock, alice, enrol):
    enrolled = enrol(alice)
    clock.shift(60)
    body = {"password": PASSWORD, "code": totp_code(enrolled.secret)}
    assert client.post("/reauthenticate", json=body, headers=alice.headers).status_code == 200
    assert client.post("/reauthenticate", json=body, headers=alice.headers).status_code == 403


def test_a_recovery_code_reauthenticates_once(client, alice, enrol):
    code = enrol(alice).recovery_codes[0]
    body = {"password": PASSWORD, "recovery_code": code}
    assert client.post("/reauthenticate", json=body, headers=alice.headers).status_code == 200
    assert client.post("/reauthenticate", json=body, headers=alice.headers).status_code == 403
    assert client.get("/mfa", headers=alice.headers).get_json()["recovery_codes_left"] == 9


def test_a_code_for_a_user_without_totp_is_422(client, alice):
    body = {"password": PASSWORD, "code": "123456"}
    response = client.post("/reauthenticate", json=body, headers=alice.headers)
    assert response.status_code == 422


def test_the_second_step_of_a_login_is_the_proof(client, clock, alice, enrol, mfa_token):
    enrolled = enrol(alice)
    clock.shift(60)
    token = mfa_token("alice")
    clock.shift(299)  # the password was typed five minutes ago; the code now
    pair = client.post(
        "/login/mfa", json={"mfa_token": token, "code": totp_code(enrolled.secret)}
    ).get_json()
    clock.shift(600)
    response = client.post(
        "/tokens", json={"name": "ci", "scopes": ["notes:read"]}, headers=_headers(pair)
    )
    assert response.status_code == 201


def test_a_personal_access_token_is_never_fresh(client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    response = client.post("/reauthenticate", json={"password": PASSWORD}, headers=pat.headers)
    assert response.status_code == 403  # no account scope


def test_migration_0005_backfills_the_proof_from_the_sessions_creation(config, tmp_path):
    app = create_app(config, instance_path=str(tmp_path / "migrated"))
    created = utcnow() - timedelta(days=1)
    with app.app_context():
        alembic = app.extensions["migrate"].migrate.get_config()
        command.upgrade(alembic, "0003")
        at = created.replace(tzinfo=None) if db.engine.name == "sqlite" else created
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, username, username_key, password_hash, is_admin,"
                    " is_active, created_at, note_count) VALUES (1, 'alice', 'alice', 'x',"
                    " false, true, :at, 0)"
                ),
                {"at": at},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO login_sessions (id, user_id, created_at, last_used_at,"
                    " expires_at, user_agent, refresh_generation) VALUES ('s', 1, :at, :at,"
                    " :at, '', 0)"
                ),
                {"at": at},
            )
        command.upgrade(alembic, "head")
        with db.engine.connect() as connection:
            row = connection.execute(
                sa.text("SELECT created_at, authenticated_at, enrolment_only FROM login_sessions")
            ).one()
        db.session.remove()
        db.engine.dispose()
    assert row[0] == row[1]
    assert not row[2]
