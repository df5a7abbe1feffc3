"""TOTP enrolment, recovery codes, and what the database holds of them (MFA-01, MFA-03).

Each test moves a clock it controls; a code is what an authenticator (pyotp) shows then.
"""

from __future__ import annotations

import json
import os
import stat
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from support.accounts import PASSWORD, totp_code
from support.forged_tokens import forged_signature

from api import create_app
from api.config import ConfigError
from api.credentials.secret_box import KEY_FILE
from api.database import create_schema, db
from api.origin import CLI
from api.services import accounts

pytestmark = pytest.mark.usefixtures("clock")
LIMIT = 3  # failed attempts a minute


@pytest.fixture
def config(config):
    return {**config, "LOGIN_RATE_LIMIT": f"{LIMIT} per minute"}


def _status(client, owner):
    response = client.get("/mfa", headers=owner.headers)
    assert response.status_code == 200
    return response.get_json()


def test_enrolment_gives_the_secret_its_uri_and_a_qr_code(client, alice):
    response = client.post("/mfa/totp", headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Tessera:alice")
    assert parse_qs(uri.query) == {"secret": [body["secret"]], "issuer": ["Tessera"]}
    assert len(body["secret"]) == 32  # 160 bits of base32
    assert body["qr_svg"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert body["qr_svg"].endswith("</svg>")
    assert _status(client, alice) == {"totp": False, "recovery_codes_left": 0, "passkeys": 0}


def test_confirming_turns_totp_on_and_shows_ten_recovery_codes_once(client, alice):
    secret = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    response = client.post(
        "/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = response.get_json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(group) for group in groups] == [4, 4, 4, 4]
        assert set(code.replace("-", "")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert _status(client, alice) == {"totp": True, "recovery_codes_left": 10, "passkeys": 0}
    shown_again = json.dumps(_status(client, alice))
    assert not any(code in shown_again for code in codes)


def test_a_new_enrolment_replaces_the_pending_one(client, alice):
    first = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    second = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    assert first != second
    stale = client.post("/mfa/totp/confirm", json={"code": totp_code(first)}, headers=alice.headers)
    assert stale.status_code == 422
    fresh = client.post(
        "/mfa/totp/confirm", json={"code": totp_code(second)}, headers=alice.headers
    )
    assert fresh.status_code == 200


def test_a_wrong_code_at_confirmation_is_422_and_changes_nothing(client, alice):
    secret = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    wrong = str((int(totp_code(secret)) + 1) % 1_000_000).zfill(6)
    response = client.post("/mfa/totp/confirm", json={"code": wrong}, headers=alice.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "code" in response.get_json()["errors"]
    assert _status(client, alice)["totp"] is False


def test_wrong_codes_at_confirmation_are_failed_attempts(client, alice):
    secret = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    for _ in range(LIMIT):
        body = {"code": "000000" if totp_code(secret) != "000000" else "111111"}
        assert client.post("/mfa/totp/confirm", json=body, headers=alice.headers).status_code == 422
    right = client.post(
        "/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=alice.headers
    )
    assert right.status_code == 429
    assert "Retry-After" in right.headers
    # The same username counter as the password's.
    again = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert again.status_code == 429


def test_confirming_ends_every_other_session(client, make_user, login, enrol):
    make_user("alice")
    other = login("alice")
    this = login("alice")
    enrol(this)
    refused = client.get("/me", headers=other.headers)
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "session revoked"
    assert client.get("/me", headers=this.headers).status_code == 200


def test_confirming_without_an_enrolment_is_409(client, alice):
    response = client.post("/mfa/totp/confirm", json={"code": "123456"}, headers=alice.headers)
    assert response.status_code == 409


def test_enrolling_again_while_totp_is_on_is_409(client, alice, enrol):
    enrol(alice)
    assert client.post("/mfa/totp", headers=alice.headers).status_code == 409
    assert (
        client.post("/mfa/totp/confirm", json={"code": "123456"}, headers=alice.headers).status_code
        == 409
    )


@pytest.mark.parametrize(
    "code", ["12345", "1234567", "12345a", "abcdef", " 123456", "123456\n", "١٢٣٤٥٦"]
)
def test_a_code_of_the_wrong_length_or_alphabet_is_422(client, alice, code):
    client.post("/mfa/totp", headers=alice.headers)
    response = client.post("/mfa/totp/confirm", json={"code": code}, headers=alice.headers)
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]


def test_a_code_as_a_json_number_is_422(client, alice):
    client.post("/mfa/totp", headers=alice.headers)
    response = client.post("/mfa/totp/confirm", json={"code": 123456}, headers=alice.headers)
    assert response.status_code == 422


def test_turning_totp_off_drops_the_codes_and_logins_ask_the_password_alone(
    client, alice, enrol, login
):
    enrol(alice)
    assert client.delete("/mfa/totp", headers=alice.headers).status_code == 204
    assert _status(client, alice) == {"totp": False, "recovery_codes_left": 0, "passkeys": 0}
    login("alice")  # a token pair straight from POST /login
    assert client.delete("/mfa/totp", headers=alice.headers).status_code == 409


def test_new_recovery_codes_replace_the_old_ones(client, clock, alice, enrol, mfa_token):
    old = enrol(alice).recovery_codes
    response = client.post("/mfa/recovery-codes", headers=alice.headers)
    assert response.status_code == 200
    new = response.get_json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    refused = client.post(
        "/login/mfa", json={"mfa_token": mfa_token("alice"), "recovery_code": old[0]}
    )
    assert refused.status_code == 401
    accepted = client.post(
        "/login/mfa", json={"mfa_token": mfa_token("alice"), "recovery_code": new[0]}
    )
    assert accepted.status_code == 200


def test_recovery_codes_need_totp_on(client, alice):
    assert client.post("/mfa/recovery-codes", headers=alice.headers).status_code == 409


def _every_stored_value(app) -> str:
    """Every value of every row of every table, as one text."""
    with app.app_context():
        values = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)):
                values.extend(str(value) for value in row)
        return "\n".join(values)


def test_the_database_holds_neither_the_secret_nor_any_recovery_code(app, client, alice):
    secret = client.post("/mfa/totp", headers=alice.headers).get_json()["secret"]
    assert secret not in _every_stored_value(app)  # pending: encrypted already
    confirmed = client.post(
        "/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=alice.headers
    )
    codes = confirmed.get_json()["recovery_codes"]
    stored = _every_stored_value(app)
    assert secret not in stored and secret.lower() not in stored
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
    with app.app_context():
        ciphertext = db.session.scalar(sa.text("SELECT totp_secret FROM users"))
        hashes = db.session.scalars(sa.text("SELECT code_hash FROM recovery_codes")).all()
    assert ciphertext.startswith("gAAAAA")  # a Fernet token
    assert len(hashes) == 10 and all(len(h) == 64 for h in hashes)


def test_no_secret_or_code_reaches_the_audit_log(client, alice, enrol, caplog):
    enrolled = enrol(alice)
    client.post("/mfa/recovery-codes", headers=alice.headers)
    logged = caplog.text
    assert enrolled.secret not in logged
    assert not any(code in logged for code in enrolled.recovery_codes)
    events = [
        json.loads(r.getMessage())["event"] for r in caplog.records if r.name == "tessera.audit"
    ]
    assert {"mfa_enrolment_started", "mfa_enabled", "recovery_codes_regenerated"} <= set(events)


def test_the_generated_encryption_key_file_is_the_owners_alone(app):
    path = os.path.join(app.instance_path, KEY_FILE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as file:
        records = json.load(file)["keys"]
    assert len(records) == 1
    Fernet(records[0]["secret"])  # a usable Fernet key


def test_configured_encryption_keys_leave_the_instance_folder_alone(config, tmp_path):
    config["MFA_ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()]
    app = create_app(config, instance_path=str(tmp_path / "configured"))
    assert not os.path.exists(os.path.join(app.instance_path, KEY_FILE))


def test_a_key_that_is_not_a_fernet_key_stops_the_start(config, tmp_path):
    config["MFA_ENCRYPTION_KEYS"] = ["not a key"]
    with pytest.raises(ConfigError, match=r"MFA_ENCRYPTION_KEYS must be a .* of Fernet keys"):
        create_app(config, instance_path=str(tmp_path / "bad"))


def test_encryption_keys_come_from_the_environment_newest_first(config, tmp_path, monkeypatch):
    newest, older = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("MFA_ENCRYPTION_KEYS", f"{newest},{older}")
    app = create_app(config, instance_path=str(tmp_path / "env"))
    assert app.config["MFA_ENCRYPTION_KEYS"] == [newest, older]
    box = app.extensions["tessera.encryption"]
    assert Fernet(newest).decrypt(box.encrypt("s").encode()) == b"s"


def _stored_secret(app) -> str:
    with app.app_context():
        return db.session.scalar(sa.text("SELECT totp_secret FROM users WHERE username = 'alice'"))


def test_rotating_the_key_file_reencrypts_and_logins_go_on(
    app, cli, clock, client, alice, enrol, totp_login
):
    enrolled = enrol(alice)
    before = _stored_secret(app)
    key_file = os.path.join(app.instance_path, KEY_FILE)
    with open(key_file) as file:
        old_key = json.load(file)["keys"][0]["secret"]
    result = cli("secret", "rotate-mfa-key", "--drop-old")
    assert result.exit_code == 0, result.output
    assert "1 secret(s) encrypted with the newest MFA key" in result.output
    with open(key_file) as file:
        records = json.load(file)["keys"]
    assert [r["secret"] for r in records] != [old_key] and len(records) == 1
    after = _stored_secret(app)
    assert after != before
    assert Fernet(records[0]["secret"]).decrypt(after.encode()) == enrolled.secret.encode()
    # The running app held the old key only: it reads the key file again and goes on.
    clock.shift(30)
    totp_login("alice", enrolled.secret)


def test_configured_keys_rotate_by_putting_the_new_one_first(
    config, tmp_path, clock, backend_config
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()

    def start(keys):
        app = create_app({**config, "MFA_ENCRYPTION_KEYS": keys}, instance_path=str(tmp_path / "i"))
        with app.app_context():
            create_schema()
        return app

    first = start([old])
    client = first.test_client()
    with first.app_context():
        accounts.create_user("alice", PASSWORD, origin=CLI)
    token = client.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    secret = client.post("/mfa/totp", headers=headers).get_json()["secret"]
    client.post("/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=headers)
    _dispose(first)

    both = start([new, old])
    assert (
        both.test_cli_runner().invoke(args=["secret", "rotate-mfa-key", "--drop-old"]).exit_code
        == 1
    )
    result = both.test_cli_runner().invoke(args=["secret", "rotate-mfa-key"])
    assert result.exit_code == 0, result.output
    _dispose(both)

    only_new = start([new])
    clock.shift(30)
    second = only_new.test_client()
    first_step = second.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    response = second.post(
        "/login/mfa", json={"mfa_token": first_step["mfa_token"], "code": totp_code(secret)}
    )
    assert response.status_code == 200
    _dispose(only_new)


def _dispose(app):
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_mfa_reset_turns_totp_off_and_ends_the_sessions(cli, client, alice, enrol, login):
    enrol(alice)
    result = cli("users", "mfa-reset", "alice")
    assert result.exit_code == 0
    assert result.output.strip() == "TOTP turned off for 'alice'; 1 session(s) ended"
    assert client.get("/me", headers=alice.headers).status_code == 401
    fresh = login("alice")  # the password alone again
    assert _status(client, fresh) == {"totp": False, "recovery_codes_left": 0, "passkeys": 0}


def test_mfa_reset_of_an_unknown_user_is_one_line_and_exit_1(cli, app):
    result = cli("users", "mfa-reset", "nobody")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no user named 'nobody'"


def test_user_listings_say_whether_totp_is_on(cli, client, admin, alice, enrol):
    enrol(alice)
    listed = client.get("/users", headers=admin.headers).get_json()["items"]
    assert {u["username"]: u["mfa_enabled"] for u in listed} == {"root": False, "alice": True}
    one = client.get(f"/users/{alice.user_id}", headers=admin.headers).get_json()
    assert one["mfa_enabled"] is True
    records = [json.loads(line) for line in cli("users", "list", "--json").output.splitlines()]
    assert {r["username"]: r["mfa_enabled"] for r in records} == {"root": False, "alice": True}
    table = cli("users", "list").output.splitlines()
    column = table[0].split().index("mfa_enabled")
    assert [line.split()[column] for line in table[1:]] == ["False", "True"]


def test_a_forged_bearer_token_cannot_enrol(client, alice):
    forged = {"Authorization": f"Bearer {forged_signature(alice.access_token)}"}
    assert client.post("/mfa/totp", headers=forged).status_code == 401
