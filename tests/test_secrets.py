"""The signing key: generated once into a file only its owner can read, kept across restarts,
never logged; a weak, well-known or empty key stops the app outside debug mode.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT
from support.accounts import PASSWORD
from support.servers import Deployment, Server

from api import create_app
from api.config import BY_NAME, ConfigError
from api.credentials.signing_keys import KEY_FILE
from api.database import create_schema, db
from api.origin import CLI
from api.services import accounts

WEAK_KEY_MESSAGE = "SECRET_KEY must be at least 32 random characters, never a word such as dev"


@pytest.fixture
def keyless(config, monkeypatch):
    """The test configuration with no key anywhere: the app must make its own."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    return {k: v for k, v in config.items() if k != "SECRET_KEY"}


def _start(config, instance: Path):
    app = create_app(config, instance_path=str(instance))
    with app.app_context():
        create_schema()
    return app


def _stop(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_fresh_start_writes_a_key_file_only_its_owner_can_read(keyless, tmp_path):
    previous = os.umask(0)  # even with a umask that would let everyone read new files
    try:
        app = _start(keyless, tmp_path / "instance")
    finally:
        os.umask(previous)
    key_file = tmp_path / "instance" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [key] = json.loads(key_file.read_text())["keys"]
    assert key["secret"] == app.config["SECRET_KEY"]
    assert len(bytes.fromhex(key["secret"])) >= 32
    assert sorted(p.name for p in key_file.parent.iterdir() if p.name.startswith(".keys-")) == []
    _stop(app)


def test_the_generated_key_is_kept_across_restarts(keyless, tmp_path):
    first = _start(keyless, tmp_path / "instance")
    with first.app_context():
        accounts.create_user("alice", PASSWORD, origin=CLI)
    login = first.test_client().post("/login", json={"username": "alice", "password": PASSWORD})
    token = login.get_json()["access_token"]
    _stop(first)
    restarted = _start(keyless, tmp_path / "instance")
    assert restarted.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    me = restarted.test_client().get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    _stop(restarted)


def test_the_generated_key_is_never_logged_or_printed(keyless, tmp_path, caplog, capfd):
    caplog.set_level("DEBUG")
    app = _start(keyless, tmp_path / "instance")
    key = app.config["SECRET_KEY"]
    out, err = capfd.readouterr()
    assert key not in caplog.text + out + err
    _stop(app)


@pytest.mark.parametrize(
    "key",
    ["", "   ", "dev", "secret", "changeme", "Change-Me", "your-secret-key", "0123456789abcdef"],
)
def test_a_weak_or_empty_key_is_refused_outside_debug(config, tmp_path, key):
    with pytest.raises(ConfigError, match=WEAK_KEY_MESSAGE):
        create_app({**config, "SECRET_KEY": key}, instance_path=str(tmp_path / "i"))
    assert not (tmp_path / "i" / KEY_FILE).exists()  # refused, not replaced by a generated key


def test_a_weak_fallback_key_is_refused_too(config, tmp_path):
    with pytest.raises(ConfigError, match=BY_NAME["SECRET_KEY_FALLBACKS"].refusal):
        create_app({**config, "SECRET_KEY_FALLBACKS": ["dev"]}, instance_path=str(tmp_path / "i"))


def test_a_key_set_empty_in_the_environment_is_refused(keyless, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "")
    with pytest.raises(ConfigError, match=WEAK_KEY_MESSAGE):
        create_app(keyless, instance_path=str(tmp_path / "i"))


def test_debug_mode_accepts_a_weak_key_but_never_an_empty_one(config, tmp_path):
    app = create_app({**config, "DEBUG": True, "SECRET_KEY": "dev"}, str(tmp_path / "a"))
    assert app.config["SECRET_KEY"] == "dev"
    _stop(app)
    with pytest.raises(ConfigError, match=WEAK_KEY_MESSAGE):
        create_app({**config, "DEBUG": True, "SECRET_KEY": ""}, str(tmp_path / "b"))


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "SECRET_KEY"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", **settings})
    return env


def test_manage_py_with_a_weak_key_says_so_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "users", "list"],
        cwd=ROOT,
        env=_environment(tmp_path, SECRET_KEY="dev"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {WEAK_KEY_MESSAGE}"


def test_gunicorn_with_a_weak_key_does_not_start(tmp_path):
    deployment = Deployment(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path, secret_key="dev")
    server = Server(deployment, "weak-key")
    assert server.refused_start() != 0
    assert WEAK_KEY_MESSAGE in server.log()
