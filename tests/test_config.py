"""Configuration comes from package defaults, then instance/config.py, then the environment,
every value checked against the table of settings (``api.config.SETTINGS``)."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from flask import Flask
from support import ROOT
from support.hashing import CHEAP_HASHING_ENV

from api import create_app
from api.cli import cli
from api.config import (
    BY_NAME,
    SETTINGS,
    ConfigError,
    defaults,
    describe_instance,
    instance_app,
)


@pytest.fixture
def instance(tmp_path, monkeypatch):
    for name in ("ACCESS_TOKEN_MAX_AGE", "REFRESH_TOKEN_MAX_AGE", "LOGIN_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "instance"
    folder.mkdir()
    return folder


def _app(instance, **config):
    return create_app(
        {"SECRET_KEY": "s" * 64, "DATABASE_URL": "sqlite://", **config},
        instance_path=str(instance),
    )


def test_defaults_are_the_contracts(instance):
    config = _app(instance).config
    assert config["ACCESS_TOKEN_MAX_AGE"] == 900
    assert config["REFRESH_TOKEN_MAX_AGE"] == 1_209_600
    assert config["TOKEN_QUERY_PARAM"] is None
    assert config["LOGIN_RATE_LIMIT"] == "10 per minute"
    assert config["PASSWORD_MIN_LENGTH"] == 8
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert (config["ARGON2_MEMORY_COST"], config["ARGON2_TIME_COST"]) == (19 * 1024, 2)
    assert not config["DEBUG"]


def test_instance_file_overrides_defaults_and_environment_overrides_both(instance, monkeypatch):
    (instance / "config.py").write_text(
        "ACCESS_TOKEN_MAX_AGE = 600\nREFRESH_TOKEN_MAX_AGE = 7200\n"
    )
    monkeypatch.setenv("ACCESS_TOKEN_MAX_AGE", "300")
    config = _app(instance).config
    assert config["ACCESS_TOKEN_MAX_AGE"] == 300
    assert config["REFRESH_TOKEN_MAX_AGE"] == 7200


def test_token_lifetimes_reach_the_tokens(instance, monkeypatch):
    monkeypatch.setenv("ACCESS_TOKEN_MAX_AGE", "120")
    app = _app(instance)
    with app.app_context():
        from api.database import create_schema
        from api.origin import CLI
        from api.services import accounts

        create_schema()
        accounts.create_user("alice", "correct horse battery staple", origin=CLI)
    body = app.test_client().post(
        "/login", json={"username": "alice", "password": "correct horse battery staple"}
    )
    assert body.get_json()["expires_in"] == 120


def test_database_defaults_to_sqlite_in_the_instance_folder(instance):
    app = create_app({"SECRET_KEY": "s" * 64}, instance_path=str(instance))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'tessera.db'}"


@pytest.mark.parametrize("value", ["abc", "-5", "0", "1.5"])
def test_bad_numbers_in_the_environment_stop_the_start_with_a_clear_message(
    instance, monkeypatch, value
):
    monkeypatch.setenv("ACCESS_TOKEN_MAX_AGE", value)
    with pytest.raises(
        ConfigError, match=r"^ACCESS_TOKEN_MAX_AGE must be a whole number of seconds"
    ):
        _app(instance)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://tessera:secret@db.internal:5432/tessera",
        "postgresql://tessera:secret@db.internal:5432/tessera",
        "postgresql+psycopg://tessera:secret@db.internal:5432/tessera",
    ],
)
def test_postgresql_urls_in_their_common_forms_use_psycopg_3(instance, monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    app = create_app({"SECRET_KEY": "s" * 64}, instance_path=str(instance))
    expected = "postgresql+psycopg://tessera:secret@db.internal:5432/tessera"
    assert app.config["DATABASE_URL"] == app.config["SQLALCHEMY_DATABASE_URI"] == expected
    with app.app_context():
        from api.database import db

        assert db.engine.dialect.driver == "psycopg"


@pytest.mark.parametrize(
    ("text", "threshold"), [(None, 5), ("none", None), ("None", None), ("2", 2)]
)
def test_the_prepare_threshold_reaches_psycopg(instance, monkeypatch, text, threshold):
    if text is not None:
        monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", text)
    app = _app(instance, DATABASE_URL="postgresql://tessera@db.internal/tessera")
    connect_args = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert connect_args == {"prepare_threshold": threshold, "connect_timeout": 5}


# Every setting: one bad value (the table's own example) stops the start with the table's line.


def _environment(tmp_path, **settings: str) -> dict[str, str | None]:
    """The environment of a command: no setting of this process's, the instance in tmp."""
    unset: dict[str, str | None] = {setting.name: None for setting in SETTINGS}
    return {**unset, "TESSERA_INSTANCE_PATH": str(tmp_path), **CHEAP_HASHING_ENV, **settings}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_a_bad_value_of_each_setting_is_one_line_through_create_app(instance, setting):
    with pytest.raises(ConfigError) as refused:
        _app(instance, **{setting.name: setting.bad})
    assert str(refused.value) == setting.refusal
    assert "\n" not in setting.refusal and setting.refusal.startswith(f"{setting.name} must be ")
    assert isinstance(refused.value, RuntimeError)  # what callers of create_app caught before


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_a_bad_value_of_each_setting_is_one_line_through_the_command(tmp_path, setting):
    env = _environment(tmp_path, **{setting.name: setting.bad})
    result = CliRunner().invoke(cli, ["users", "list"], env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # nothing escaped
    assert result.stderr == f"error: {setting.refusal}\n"
    assert result.stdout == ""
    assert not list(tmp_path.iterdir())  # refused before anything was made


def test_every_default_passes_its_own_check():
    config = {**defaults(), "SECRET_KEY_FROM_CONFIG": False}
    for setting in SETTINGS:
        assert setting.check(setting.default, config), setting.name


def test_each_app_gets_its_own_lists(instance):
    first, second = _app(instance), _app(instance)
    first.config["CORS_ORIGINS"].append("https://app.example.com")
    assert second.config["CORS_ORIGINS"] == [] == BY_NAME["CORS_ORIGINS"].default


@pytest.mark.parametrize(
    "args", [["manage.py", "users", "list"], ["-c", "from api.cli import main; main()", "--help"]]
)
def test_manage_py_and_the_console_script_say_it_in_one_line(tmp_path, args):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "SECRET_KEY"))},
        "TESSERA_INSTANCE_PATH": str(tmp_path),
        "ARGON2_MEMORY_COST": "1",
    }
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == f"error: {BY_NAME['ARGON2_MEMORY_COST'].refusal}\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[(word, True) for word in ("true", "True", "yes", "on", "1")],
        *[(word, False) for word in ("false", "FALSE", "no", "off", "0")],
    ],
)
def test_booleans_are_read_from_their_words(instance, monkeypatch, text, value):
    monkeypatch.setenv("RATE_LIMIT_FAIL_OPEN", text)
    assert _app(instance).config["RATE_LIMIT_FAIL_OPEN"] is value


@pytest.mark.parametrize("text", ["flase", "maybe", "", "2"])
def test_a_word_that_is_not_true_or_false_is_refused_never_read_as_false(instance, text):
    with pytest.raises(ConfigError, match=r"^RATE_LIMIT_FAIL_OPEN must be true or false$"):
        _app(instance, RATE_LIMIT_FAIL_OPEN=text)


def test_text_in_the_instance_file_is_read_as_the_environment_is(instance):
    (instance / "config.py").write_text(
        'ACCESS_TOKEN_MAX_AGE = "300"\nMETRICS_ENABLED = "false"\n'
        'CORS_ORIGINS = "https://app.example.com, http://localhost:3000"\n'
    )
    config = _app(instance).config
    assert config["ACCESS_TOKEN_MAX_AGE"] == 300
    assert config["METRICS_ENABLED"] is False
    assert config["CORS_ORIGINS"] == ["https://app.example.com", "http://localhost:3000"]


def test_a_bad_value_in_the_instance_file_is_refused_too(instance):
    (instance / "config.py").write_text("LOGIN_RATE_LIMIT = 'ten'\n")
    with pytest.raises(ConfigError, match=r'^LOGIN_RATE_LIMIT must be a rate such as "10 per'):
        _app(instance)


def test_a_number_where_a_flag_belongs_is_refused(instance):
    with pytest.raises(ConfigError, match=r"^METRICS_ENABLED must be true or false$"):
        _app(instance, METRICS_ENABLED=1)
    with pytest.raises(ConfigError, match=r"^TRUSTED_PROXIES must be"):
        _app(instance, TRUSTED_PROXIES=True)


def test_argon2_memory_is_checked_against_the_lanes(instance):
    assert _app(instance, ARGON2_MEMORY_COST=32, ARGON2_PARALLELISM=4)
    with pytest.raises(ConfigError, match=r"^ARGON2_MEMORY_COST must be an integer of at least"):
        _app(instance, ARGON2_MEMORY_COST=31, ARGON2_PARALLELISM=4)


@pytest.mark.parametrize(
    ("origins", "accepted"),
    [
        ("https://app.example.com", True),
        ("http://localhost:3000,https://admin.example.com:8443", True),
        ("*", False),
        ("https://app.example.com/", False),
        ("https://app.example.com/path", False),
        ("app.example.com", False),
        ("ftp://app.example.com", False),
        ("https://user@app.example.com", False),
        ("https://app.example.com:port", False),
    ],
)
def test_cors_origins_are_origins_and_never_a_wildcard(instance, monkeypatch, origins, accepted):
    monkeypatch.setenv("CORS_ORIGINS", origins)
    if accepted:
        assert _app(instance).config["CORS_ORIGINS"] == origins.split(",")
    else:
        with pytest.raises(ConfigError, match=r"^CORS_ORIGINS must be"):
            _app(instance)


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://api.example.com", True),
        ("http://127.0.0.1:8000/tessera", True),
        ("https://api.example.com/?x=1", False),
        ("https://api.example.com/#top", False),
        ("/relative", False),
        ("ftp://api.example.com", False),
    ],
)
def test_the_public_url_is_absolute_http_with_no_query_or_fragment(instance, url, accepted):
    if accepted:
        assert _app(instance, PUBLIC_URL=url).config["PUBLIC_URL"] == url
    else:
        with pytest.raises(ConfigError, match=r"^PUBLIC_URL must be"):
            _app(instance, PUBLIC_URL=url)


def test_cors_and_the_public_url_are_unset_by_default(instance):
    config = _app(instance).config
    assert config["CORS_ORIGINS"] == [] and config["PUBLIC_URL"] is None


# The instance folder: chosen by the operator, never silently inside the virtual environment.


def test_the_instance_folder_comes_from_tessera_instance_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path / "chosen"))
    app = create_app({"SECRET_KEY": "s" * 64})
    assert app.instance_path == str(tmp_path / "chosen")
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'chosen' / 'tessera.db'}"
    assert describe_instance(app) == (
        f"instance folder: {tmp_path / 'chosen'}, database: {app.config['DATABASE_URL']}"
    )


def test_the_database_password_is_never_said(instance):
    app = _app(instance, DATABASE_URL="postgresql://tessera:hunter2@db.internal/tessera")
    assert "hunter2" not in describe_instance(app)
    assert describe_instance(app).endswith("postgresql+psycopg://tessera:***@db.internal/tessera")


def test_an_installed_package_never_keeps_its_data_in_the_virtual_environment(monkeypatch):
    # Flask's default for a package installed in site-packages: <prefix>/var/api-instance.
    monkeypatch.delenv("TESSERA_INSTANCE_PATH", raising=False)
    monkeypatch.setattr(
        Flask, "auto_find_instance_path", lambda self: f"{sys.prefix}/var/api-instance"
    )
    with pytest.raises(ConfigError, match=r"^TESSERA_INSTANCE_PATH must be set") as refused:
        create_app({"SECRET_KEY": "s" * 64})
    assert f"{sys.prefix}/var/api-instance" in str(refused.value)


def test_in_a_clone_the_instance_folder_is_the_clones(monkeypatch):
    monkeypatch.delenv("TESSERA_INSTANCE_PATH", raising=False)
    assert instance_app().instance_path == str(ROOT / "instance")
