"""Configuration comes from package defaults, then instance/config.py, then the environment."""

import pytest

from api import create_app


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


@pytest.mark.parametrize("value", ["abc", "-5", "0"])
def test_bad_numbers_in_the_environment_stop_the_start_with_a_clear_message(
    instance, monkeypatch, value
):
    monkeypatch.setenv("ACCESS_TOKEN_MAX_AGE", value)
    with pytest.raises(RuntimeError, match="ACCESS_TOKEN_MAX_AGE"):
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
