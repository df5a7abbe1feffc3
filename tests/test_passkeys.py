"""Registering, listing, renaming and removing passkeys (``/passkeys``), the CLI's listing
and revocation, and ``GET /mfa``'s count."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from support.authenticator import Authenticator, unb64url
from support.authenticator import register_passkey as register

from api.database import db
from api.models import AuditEvent, Passkey, PasskeyUserHandle


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)))


def test_registration_options_ask_for_a_discoverable_user_verified_passkey(client, alice):
    response = client.post("/passkeys/register/options", headers=alice.headers)
    assert response.status_code == 200
    options = response.get_json()["options"]
    assert options["rp"] == {"id": "localhost", "name": "Tessera"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert len(unb64url(options["challenge"])) >= 16
    assert options["timeout"] == 300_000
    assert "publicKey" not in options  # the bare object, not wrapped


def test_the_user_handle_is_random_kept_and_never_the_id_or_name(app, client, alice):
    first = client.post("/passkeys/register/options", headers=alice.headers).get_json()
    second = client.post("/passkeys/register/options", headers=alice.headers).get_json()
    handle = first["options"]["user"]["id"]
    assert handle == second["options"]["user"]["id"]
    assert len(unb64url(handle)) >= 16
    assert handle not in {str(alice.user_id), "alice"}
    assert unb64url(handle) not in {str(alice.user_id).encode(), b"alice"}
    assert first["options"]["user"]["name"] == "alice"
    assert first["options"]["challenge"] != second["options"]["challenge"]
    with app.app_context():
        assert db.session.get(PasskeyUserHandle, alice.user_id).handle == handle


def test_a_registered_passkey_is_listed_read_renamed_and_removed(app, client, alice):
    created = register(client, alice, Authenticator(), name="Laptop")
    assert created.status_code == 201, created.get_json()
    record = created.get_json()
    assert created.headers["Location"] == f"/passkeys/{record['id']}"
    assert record["name"] == "Laptop"
    assert record["transports"] == ["hybrid", "internal"]
    assert record["last_used_at"] is None and record["disabled_at"] is None
    assert set(record) == {
        "id",
        "name",
        "created_at",
        "last_used_at",
        "backed_up",
        "transports",
        "disabled_at",
    }
    listed = client.get("/passkeys", headers=alice.headers).get_json()
    assert listed["total"] == 1 and listed["items"] == [record]
    assert client.get(f"/passkeys/{record['id']}", headers=alice.headers).get_json() == record
    renamed = client.patch(
        f"/passkeys/{record['id']}", json={"name": "Phone"}, headers=alice.headers
    )
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Phone"
    assert client.delete(f"/passkeys/{record['id']}", headers=alice.headers).status_code == 204
    assert client.get(f"/passkeys/{record['id']}", headers=alice.headers).status_code == 404
    assert [e.outcome for e in events(app, "passkey_added")] == ["success"]
    assert [e.fields["passkey_id"] for e in events(app, "passkey_removed")] == [record["id"]]


def test_a_name_defaults_to_the_date(clock, client, alice):
    created = register(client, alice, Authenticator())
    assert created.get_json()["name"] == "Passkey 2026-11-29"


def test_the_database_holds_no_secret_only_the_public_key(app, client, alice):
    authenticator = Authenticator()
    register(client, alice, authenticator)
    with app.app_context():
        row = db.session.scalar(sa.select(Passkey))
        assert row.public_key == authenticator.cose_key()
        assert row.credential_id == authenticator.id


def test_another_users_passkey_is_404(client, alice, bob):
    record = register(client, alice, Authenticator()).get_json()
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(
            f"/passkeys/{record['id']}", json={"name": "x"}, headers=bob.headers
        )
        assert response.status_code == 404, method
    assert client.get(f"/passkeys/{record['id']}", headers=alice.headers).status_code == 200


def test_the_same_credential_id_twice_is_409_by_anyone(client, alice, bob):
    authenticator = Authenticator()
    assert register(client, alice, authenticator).status_code == 201
    assert register(client, alice, authenticator).status_code == 409
    again = Authenticator(key=authenticator.key, credential_id=authenticator.credential_id)
    assert register(client, bob, again).status_code == 409
    assert client.get("/passkeys", headers=bob.headers).get_json()["total"] == 0


def test_registration_options_exclude_the_users_passkeys(client, alice):
    authenticator = Authenticator()
    register(client, alice, authenticator)
    options = client.post("/passkeys/register/options", headers=alice.headers).get_json()
    assert [c["id"] for c in options["options"]["excludeCredentials"]] == [authenticator.id]


@pytest.mark.parametrize(
    "knobs",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"user_verified": False},
        {"ceremony": "webauthn.get"},
    ],
    ids=["origin", "rp-id", "challenge", "no-uv", "type"],
)
def test_a_refused_registration_is_422_on_credential_and_recorded(app, client, alice, knobs):
    response = register(client, alice, Authenticator(), **knobs)
    assert response.status_code == 422
    assert "credential" in response.get_json()["errors"]
    assert client.get("/passkeys", headers=alice.headers).get_json()["total"] == 0
    assert [e.outcome for e in events(app, "passkey_added")] == ["failure"]


def test_a_registration_state_works_once(client, alice):
    body = client.post("/passkeys/register/options", headers=alice.headers).get_json()
    authenticator = Authenticator()
    credential = authenticator.register(body["options"])
    sent = {"state": body["state"], "credential": credential}
    assert client.post("/passkeys", json=sent, headers=alice.headers).status_code == 201
    other = Authenticator()
    sent = {"state": body["state"], "credential": other.register(body["options"])}
    replayed = client.post("/passkeys", json=sent, headers=alice.headers)
    assert replayed.status_code == 422
    assert "state" in replayed.get_json()["errors"]


def test_a_state_of_another_user_or_purpose_is_422(client, alice, bob):
    alices = client.post("/passkeys/register/options", headers=alice.headers).get_json()
    sent = {"state": alices["state"], "credential": Authenticator().register(alices["options"])}
    foreign = client.post("/passkeys", json=sent, headers=bob.headers)
    assert foreign.status_code == 422
    assert "another user" in foreign.get_json()["detail"]
    login = client.post("/login/passkey/options").get_json()
    sent = {"state": login["state"], "credential": Authenticator().register(alices["options"])}
    wrong_purpose = client.post("/passkeys", json=sent, headers=alice.headers)
    assert wrong_purpose.status_code == 422
    assert "another ceremony" in wrong_purpose.get_json()["detail"]


def test_an_expired_state_is_422(clock, client, alice):
    body = client.post("/passkeys/register/options", headers=alice.headers).get_json()
    clock.shift(301)
    sent = {"state": body["state"], "credential": Authenticator().register(body["options"])}
    response = client.post("/passkeys", json=sent, headers=alice.headers)
    assert response.status_code == 422
    assert response.get_json()["detail"] == "state refused: token expired"


def test_registration_and_removal_need_a_fresh_login(clock, client, alice):
    record = register(client, alice, Authenticator()).get_json()
    clock.shift(601)
    for response in (
        client.post("/passkeys/register/options", headers=alice.headers),
        client.delete(f"/passkeys/{record['id']}", headers=alice.headers),
    ):
        assert response.status_code == 401
        assert "insufficient_user_authentication" in response.headers["WWW-Authenticate"]
    assert client.get("/passkeys", headers=alice.headers).status_code == 200


def test_a_personal_access_token_cannot_manage_passkeys(client, alice, make_token):
    token = make_token(alice, ["notes:read", "notes:write"])
    headers = {"Authorization": f"Bearer {token.token}"}
    assert client.get("/passkeys", headers=headers).status_code == 403
    assert client.post("/passkeys/register/options", headers=headers).status_code == 403


def test_get_mfa_counts_the_usable_passkeys(client, alice):
    assert client.get("/mfa", headers=alice.headers).get_json()["passkeys"] == 0
    register(client, alice, Authenticator())
    register(client, alice, Authenticator())
    assert client.get("/mfa", headers=alice.headers).get_json()["passkeys"] == 2


def test_cli_lists_and_revokes_passkeys_without_key_material(app, cli, client, alice, bob):
    alices = register(client, alice, Authenticator(), name="Laptop").get_json()
    register(client, bob, Authenticator(), name="Phone")
    listed = cli("passkeys", "list", "alice", "--json")
    assert listed.exit_code == 0, listed.output
    [line] = [json.loads(text) for text in listed.output.splitlines()]
    assert line["id"] == alices["id"] and line["user"] == "alice" and line["name"] == "Laptop"
    assert set(line) == {"id", "user", "name", "created_at", "last_used_at", "disabled_at"}
    table = cli("passkeys", "list")
    assert "Laptop" in table.output and "Phone" in table.output
    revoked = cli("passkeys", "revoke", str(alices["id"]))
    assert revoked.exit_code == 0 and "removed" in revoked.output
    assert client.get(f"/passkeys/{alices['id']}", headers=alice.headers).status_code == 404
    missing = cli("passkeys", "revoke", str(alices["id"]))
    assert missing.exit_code == 1 and "no such passkey" in missing.output


def test_mfa_reset_leaves_passkeys_alone(app, cli, client, alice):
    register(client, alice, Authenticator())
    assert cli("users", "mfa-reset", "alice").exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 1
