"""A database that does not answer, or a SQLite writer locked out, gets a clean 503: never a
500, and never an authenticated request (fail closed)."""

from __future__ import annotations

import socket
import sqlite3

import pytest
from conftest import PASSWORD

from api import create_app
from api.extensions import db


def closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_app(config, backend, tmp_path):
    """Another server process on the same keys, whose database cannot be reached."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'no such directory' / 'tessera.db'}"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_loopback_port()}/tessera"
    app = create_app(
        {**config, "DATABASE_URL": url, "SQLALCHEMY_ENGINE_OPTIONS": {}},
        instance_path=str(tmp_path / "unreachable"),
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    text = response.get_data(as_text=True)
    assert "SELECT" not in text and "INSERT" not in text and "sqlite" not in text.lower()


def test_a_valid_token_gets_503_not_access_when_the_database_is_unreachable(alice, unreachable_app):
    client = unreachable_app.test_client()
    assert_unavailable(client.get("/me", headers=alice.headers))
    assert_unavailable(client.post("/notes", json={"title": "lost?"}, headers=alice.headers))
    assert_unavailable(client.post("/login", json={"username": "alice", "password": PASSWORD}))
    assert client.get("/health").status_code == 503


@pytest.fixture
def config(config, backend):
    if backend == "sqlite":
        # A short busy timeout, so that a writer locked out gives up within the test.
        return {**config, "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 0.2}}}
    return config


def test_a_sqlite_writer_locked_out_past_the_busy_timeout_gets_503_then_succeeds(
    app, client, alice, backend
):
    if backend != "sqlite":
        pytest.skip("SQLite's single-writer lock")
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    other_writer = sqlite3.connect(path, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        assert_unavailable(client.post("/notes", json={"title": "n"}, headers=alice.headers))
        assert client.get("/me", headers=alice.headers).status_code == 200  # readers go on
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    assert client.post("/notes", json={"title": "n"}, headers=alice.headers).status_code == 201
    listed = client.get("/notes", headers=alice.headers).get_json()
    assert [note["title"] for note in listed["items"]] == ["n"]
