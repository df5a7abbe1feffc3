"""A database that answers but whose schema is missing or older than the code: 503, never 500.

``GET /health`` says so until ``init-db`` has run, so a load balancer keeps such a server out;
every other route that reaches the database answers 503 problem+json too.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from support.accounts import PASSWORD
from support.backends import backend_for
from support.routes import example_path, operations

from api import create_app
from api.database import db, upgrade_schema
from api.errors import SCHEMA_NOT_READY


@pytest.fixture
def bare_app(config, backend, tmp_path):
    """Another server process on the same keys, on a database init-db has not touched."""
    with backend_for(backend, tmp_path / "bare.db") as place:
        app = create_app({**config, **place.config()}, instance_path=str(tmp_path / "bare"))
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def assert_schema_not_ready(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"] == SCHEMA_NOT_READY
    assert int(response.headers["Retry-After"]) >= 1
    text = response.get_data(as_text=True)
    assert "SELECT" not in text and "relation" not in text and "no such table" not in text


def migrate_to(app, revision: str) -> None:
    with app.app_context():
        command.upgrade(app.extensions["migrate"].migrate.get_config(), revision)


def test_health_is_503_until_init_db_has_run(bare_app):
    client = bare_app.test_client()
    assert_schema_not_ready(client.get("/health"))
    with bare_app.app_context():
        upgrade_schema()
    assert client.get("/health").get_json() == {"status": "ok"}


def test_every_route_answers_503_or_a_refusal_never_500_without_a_schema(alice, bare_app):
    client = bare_app.test_client()
    for method, rule, access in operations(bare_app):
        path = example_path(rule)
        headers = alice.headers if access is not None else {}
        response = client.open(path, method=method, headers=headers, json={})
        assert response.status_code < 500 or response.status_code == 503, (method, path)
        if access is not None:
            assert_schema_not_ready(response)  # a valid token reaches the database
    assert_schema_not_ready(client.post("/login", json={"username": "alice", "password": PASSWORD}))


def test_health_is_503_while_the_schema_is_older_than_the_code(bare_app):
    migrate_to(bare_app, "0001")
    client = bare_app.test_client()
    assert_schema_not_ready(client.get("/health"))
    migrate_to(bare_app, "head")
    assert client.get("/health").status_code == 200


def test_a_route_that_needs_a_newer_column_answers_503(bare_app):
    migrate_to(bare_app, "0001")  # users has no note_count yet
    client = bare_app.test_client()
    assert_schema_not_ready(client.post("/login", json={"username": "alice", "password": PASSWORD}))


def test_health_reads_the_revision_only_until_the_schema_is_ready(client, queries):
    assert client.get("/health").status_code == 200
    assert any("alembic_version" in s for s in queries)
    queries.clear()
    assert client.get("/health").status_code == 200
    # Only the health check's own: on PostgreSQL the pool's pre-ping (";") is not counted.
    assert queries == ["SELECT 1"]


def test_a_table_that_goes_missing_makes_health_look_again(app, client, alice):
    assert client.get("/health").status_code == 200
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE notes"))
        connection.execute(sa.text("DELETE FROM alembic_version"))
    assert_schema_not_ready(client.get("/notes", headers=alice.headers))
    assert_schema_not_ready(client.get("/health"))
