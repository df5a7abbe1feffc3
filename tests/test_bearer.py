"""The request loader: which Authorization headers open a protected route, and the 401s."""

import pytest
from flask_login import user_accessed
from support.routes import protected_routes

from api.credentials import signed_tokens


def _challenge(response) -> str:
    return response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("method", "path"), protected_routes())
def test_protected_route_without_credentials_gets_plain_challenge(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert _challenge(response) == 'Bearer realm="api"'
    assert response.get_json()["status"] == 401


@pytest.mark.parametrize(("method", "path"), protected_routes())
def test_protected_route_with_a_tampered_token_names_invalid_token(client, alice, method, path):
    tampered = alice.access_token[:-2] + ("AA" if alice.access_token[-2:] != "AA" else "BB")
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401
    assert _challenge(response) == (
        'Bearer realm="api", error="invalid_token", error_description="invalid signature"'
    )


def test_another_scheme_gets_the_plain_challenge(client):
    response = client.get("/me", headers={"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="})
    assert response.status_code == 401
    assert _challenge(response) == 'Bearer realm="api"'


def test_scheme_word_is_case_insensitive(client, alice):
    for scheme in ("bearer", "BEARER", "bEaReR"):
        headers = {"Authorization": f"{scheme} {alice.access_token}"}
        assert client.get("/me", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer  {t}", "Bearer\t{t}", "Bearer{t}", "Bearer {t} x", "Bearer {t},"],
)
def test_malformed_bearer_header_is_refused(client, alice, header):
    response = client.get("/me", headers={"Authorization": header.format(t=alice.access_token)})
    assert response.status_code == 401
    assert 'error="invalid_token"' in _challenge(response)


def test_two_authorization_headers_are_refused(client, alice):
    headers = [("Authorization", f"Bearer {alice.access_token}")] * 2
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert "malformed Authorization header" in _challenge(response)


def test_expired_access_token_is_refused(clock, client, alice):
    clock.shift(900)
    assert client.get("/me", headers=alice.headers).status_code == 200
    clock.shift(1)
    response = client.get("/me", headers=alice.headers)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "token expired"


def test_token_from_the_future_is_refused(clock, app, client, alice):
    clock.shift(60)
    with app.app_context():
        future = signed_tokens.codec().issue(
            signed_tokens.ACCESS, signed_tokens.Claims(alice.user_id, "x")
        )
    clock.shift(-60)
    response = client.get("/me", headers={"Authorization": f"Bearer {future}"})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "token not yet valid"


def test_refresh_token_is_not_an_access_token(client, alice):
    response = client.get("/me", headers={"Authorization": f"Bearer {alice.refresh_token}"})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "wrong token type"


def test_access_token_is_not_a_refresh_token(client, alice):
    response = client.post("/refresh", json={"refresh_token": alice.access_token})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "wrong token type"


def test_relabelled_refresh_token_fails_its_signature(client, alice):
    relabelled = "at" + alice.refresh_token[2:]
    response = client.get("/me", headers={"Authorization": f"Bearer {relabelled}"})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "invalid signature"


def test_token_naming_an_unknown_key_is_refused(client, alice):
    kind, _, signed = alice.access_token.split(".", 2)
    response = client.get("/me", headers={"Authorization": f"Bearer {kind}.0badc0de.{signed}"})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "unknown signing key"


def test_token_signed_with_another_secret_is_refused(client, alice):
    stranger = signed_tokens.TokenCodec(["another-secret-" * 4], 900, 3600)
    forged = stranger.issue(signed_tokens.ACCESS, signed_tokens.Claims(alice.user_id, "whatever"))
    response = client.get("/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "unknown signing key"


def test_logged_out_session_refuses_its_token(client, alice):
    assert client.post("/logout", headers=alice.headers).status_code == 204
    response = client.get("/me", headers=alice.headers)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "session revoked"
    assert 'error_description="session revoked"' in _challenge(response)


def test_deleted_user_token_is_refused(client, cli, alice):
    assert cli("users", "delete", "alice", "--yes").exit_code == 0
    response = client.get("/me", headers=alice.headers)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "session not found"


def test_deactivated_user_token_is_refused(client, cli, alice):
    assert cli("users", "deactivate", "alice").exit_code == 0
    assert client.get("/me", headers=alice.headers).status_code == 401


def test_token_in_query_string_is_ignored_by_default(client, alice):
    response = client.get(f"/me?token={alice.access_token}")
    assert response.status_code == 401
    assert _challenge(response) == 'Bearer realm="api"'


def test_session_cookie_never_authenticates(client, alice):
    client.set_cookie("session", alice.access_token)
    client.set_cookie("remember_token", f"{alice.user_id}|deadbeef")
    assert client.get("/me").status_code == 401
    assert client.get("/me", headers=alice.headers).status_code == 200


@pytest.fixture
def user_loads(app):
    """Count Flask-Login's loads of the request's user (its ``user_accessed`` signal)."""
    seen: list[object] = []

    def record(sender, **extra):
        seen.append(sender)

    user_accessed.connect(record, app)
    yield seen
    user_accessed.disconnect(record, app)


@pytest.mark.parametrize("refused", ["none", "forged", "expired", "refresh token"])
def test_a_token_that_cannot_authenticate_is_refused_before_flask_login_loads_a_user(
    clock, client, alice, user_loads, refused
):
    headers = {
        "none": {},
        "forged": {"Authorization": f"Bearer {alice.access_token[:-2]}AA"},
        "expired": {"Authorization": f"Bearer {alice.access_token}"},
        "refresh token": {"Authorization": f"Bearer {alice.refresh_token}"},
    }[refused]
    if refused == "expired":
        clock.shift(24 * 3600)
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api"')
    assert user_loads == []


def test_a_valid_token_goes_through_flask_login_and_is_verified_once(
    client, alice, user_loads, monkeypatch
):
    verified: list[str] = []
    verify = signed_tokens.TokenCodec.verify

    def counting(self, kind, token):
        verified.append(token)
        return verify(self, kind, token)

    monkeypatch.setattr(signed_tokens.TokenCodec, "verify", counting)
    response = client.get("/me", headers=alice.headers)
    assert response.status_code == 200
    assert len(user_loads) == 1
    assert verified == [alice.access_token]
