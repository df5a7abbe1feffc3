"""manage.py secret rotate: new tokens use the new key; old ones live until their key is dropped."""

import json
import os

import pytest
from support.accounts import PASSWORD

from api import create_app
from api.credentials import signing_keys
from api.database import db
from api.origin import CLI
from api.services import accounts


@pytest.fixture
def key_file_config(config, monkeypatch):
    """The test config with no SECRET_KEY: keys come from the instance key file."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    return {k: v for k, v in config.items() if k != "SECRET_KEY"}


@pytest.fixture
def start(key_file_config, tmp_path):
    """Start (or restart) the app on the same database and instance folder."""
    started = []

    def start_app():
        app = create_app(key_file_config, instance_path=str(tmp_path / "instance"))
        with app.app_context():
            db.create_all()
        started.append(app)
        return app

    yield start_app
    for app in started:
        with app.app_context():
            db.engine.dispose()


def _login(app) -> str:
    response = app.test_client().post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    return response.get_json()["access_token"]


def _me(app, token) -> int:
    return app.test_client().get("/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _rotate(app, *args):
    return app.test_cli_runner().invoke(args=["secret", "rotate", *args])


@pytest.fixture
def first_app(start):
    app = start()
    with app.app_context():
        accounts.create_user("alice", PASSWORD, origin=CLI)
    return app


def test_first_start_generates_a_private_key_file_and_keeps_it(first_app, start):
    path = os.path.join(first_app.instance_path, signing_keys.KEY_FILE)
    assert os.stat(path).st_mode & 0o777 == 0o600
    token = _login(first_app)
    assert _me(start(), token) == 200


def test_token_of_the_previous_key_works_after_rotate_and_restart(first_app, start):
    old_token = _login(first_app)
    result = _rotate(first_app)
    assert result.exit_code == 0, result.output
    restarted = start()
    assert _me(restarted, old_token) == 200
    new_token = _login(restarted)
    assert new_token.split(".")[1] != old_token.split(".")[1]
    assert _me(restarted, new_token) == 200
    assert _me(first_app, new_token) == 401  # the old key alone cannot verify the new one


def test_dropped_key_no_longer_verifies_its_tokens(clock, first_app, start):
    old_token = _login(first_app)
    _rotate(first_app)
    clock.shift(14 * 24 * 3600 + 1)  # longer than the longest token lifetime
    result = _rotate(first_app, "--drop-old")
    assert result.exit_code == 0
    assert "1 old key(s) dropped" in result.output
    restarted = start()
    assert len(restarted.config["SECRET_KEY_FALLBACKS"]) == 1
    assert _me(restarted, old_token) == 401


def test_drop_old_keeps_keys_whose_tokens_may_still_live(clock, first_app):
    _rotate(first_app)
    clock.shift(3600)
    result = _rotate(first_app, "--drop-old")
    assert "0 old key(s) dropped" in result.output
    with open(os.path.join(first_app.instance_path, signing_keys.KEY_FILE)) as file:
        assert len(json.load(file)["keys"]) == 3


def test_rotate_refuses_when_the_key_comes_from_configuration(app):
    result = app.test_cli_runner().invoke(args=["secret", "rotate"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: SECRET_KEY is configured")
    assert not os.path.exists(os.path.join(app.instance_path, signing_keys.KEY_FILE))


def test_configured_fallback_keys_verify_old_tokens(config, tmp_path, make_user, login):
    make_user("alice")
    old = login("alice")
    rotated = create_app(
        {**config, "SECRET_KEY": "n" * 64, "SECRET_KEY_FALLBACKS": [config["SECRET_KEY"]]},
        instance_path=str(tmp_path / "instance"),
    )
    assert _me(rotated, old.access_token) == 200
    dropped = create_app({**config, "SECRET_KEY": "n" * 64}, instance_path=str(tmp_path / "i2"))
    assert _me(dropped, old.access_token) == 401


def _personal_token(app, access_token: str) -> tuple[int, str]:
    response = app.test_client().post(
        "/tokens",
        json={"name": "ci", "scopes": ["notes:read"]},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    assert response.status_code == 201
    return response.get_json()["id"], response.get_json()["token"]


def test_drop_old_keeps_a_key_while_a_live_personal_access_token_was_signed_with_it(
    clock, first_app, start
):
    token_id, pat = _personal_token(first_app, _login(first_app))
    _rotate(first_app)
    clock.shift(15 * 24 * 3600)  # past the longest session token lifetime; the PAT lives on
    result = _rotate(first_app, "--drop-old")
    assert result.exit_code == 0, result.output
    assert "0 old key(s) dropped" in result.output
    assert _me(start(), pat) == 200
    revoked = first_app.test_cli_runner().invoke(args=["tokens", "revoke", str(token_id)])
    assert revoked.exit_code == 0
    assert "1 old key(s) dropped" in _rotate(first_app, "--drop-old").output
    assert len(start().config["SECRET_KEY_FALLBACKS"]) == 2
    unknown = start().test_client().get("/me", headers={"Authorization": f"Bearer {pat}"})
    assert unknown.get_json()["detail"] == "unknown signing key"


def test_drop_old_changes_no_key_when_the_database_cannot_answer(first_app):
    with first_app.app_context():
        db.drop_all()
    path = os.path.join(first_app.instance_path, signing_keys.KEY_FILE)
    with open(path) as file:
        before = file.read()
    result = _rotate(first_app, "--drop-old")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the database cannot say which keys")
    assert len(result.stderr.strip().splitlines()) == 1
    with open(path) as file:
        assert file.read() == before
