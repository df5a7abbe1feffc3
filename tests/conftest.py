"""Fixtures: a fresh app and database per test, real logins through ``POST /login``.

Every test runs on SQLite. When ``TEST_DATABASE_URL`` (PostgreSQL) and ``TEST_REDIS_URL`` are
set, every test runs on PostgreSQL and Redis as well, each in its own schema and key prefix.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine
from sqlalchemy import event
from werkzeug.serving import make_server

from api import create_app
from api.database import create_schema, db
from api.services import accounts

PASSWORD = "correct horse battery staple"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
# Argon2id at its cheapest: tests check behaviour, the benchmark measures cost.
CHEAP_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}


def _backends():
    yield pytest.param("sqlite", id="sqlite")
    yield pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not (TEST_DATABASE_URL and TEST_REDIS_URL),
            reason="set TEST_DATABASE_URL and TEST_REDIS_URL to run against PostgreSQL and Redis",
        ),
    )


@pytest.fixture(params=list(_backends()))
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_config(backend, tmp_path):
    """Engine settings for a database of the test's own; dropped afterwards."""
    if backend == "sqlite":
        yield {"DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}"}
        return
    schema = f"test_{secrets.token_hex(6)}"
    admin = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield {
        "DATABASE_URL": TEST_DATABASE_URL,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
    }
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def redis_config(backend):
    """Rate-limit storage: memory with SQLite, a key prefix of the test's own in Redis."""
    if backend == "sqlite":
        yield {}
        return
    import redis

    prefix = f"tessera-test-{secrets.token_hex(6)}"
    yield {"REDIS_URL": TEST_REDIS_URL, "RATE_LIMIT_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(TEST_REDIS_URL)
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def config(database_config, redis_config):
    """The test app's configuration; tests may change it before using ``app``."""
    return {
        "TESTING": True,
        "SECRET_KEY": secrets.token_hex(32),
        **CHEAP_HASHING,
        **database_config,
        **redis_config,
    }


@pytest.fixture
def app(config, tmp_path):
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    with app.app_context():
        create_schema()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    return invoke


@pytest.fixture
def make_user(app):
    """Create a user directly through the service, as ``manage.py users create`` does."""

    def make(username: str, password: str = PASSWORD, is_admin: bool = False, is_active=True):
        with app.app_context():
            user = accounts.create_user(username, password, is_admin=is_admin)
            if not is_active:
                accounts.update_user(user, {"is_active": False})
            return user.id

    return make


@dataclass
class Login:
    """A user logged in through ``POST /login``."""

    user_id: int
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture
def login(client):
    def log_in(username: str, password: str = PASSWORD, **headers) -> Login:
        response = client.post(
            "/login", json={"username": username, "password": password}, headers=headers
        )
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        me = client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        return Login(me.get_json()["id"], body["access_token"], body["refresh_token"])

    return log_in


@pytest.fixture
def alice(make_user, login) -> Login:
    make_user("alice")
    return login("alice")


@pytest.fixture
def bob(make_user, login) -> Login:
    make_user("bob")
    return login("bob")


@pytest.fixture
def admin(make_user, login) -> Login:
    make_user("root", is_admin=True)
    return login("root")


@pytest.fixture
def clock():
    """A clock that stands still until the test moves it: ``clock.shift(seconds)``."""
    with time_machine.travel(datetime(2026, 11, 29, 10, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def queries(app):
    """Record the SQL statements the app sends; ``queries.clear()`` to start counting."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def live_server(app):
    """The app behind a real HTTP server on a free loopback port, in a thread: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@dataclass
class PersonalToken:
    """A personal access token made through ``POST /tokens``."""

    id: int
    token: str
    scopes: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_token(client):
    """Make a personal access token with a session's (fresh) login, through the endpoint."""

    def make(owner: Login, scopes: list[str], name: str = "script", **body) -> PersonalToken:
        response = client.post(
            "/tokens", json={"name": name, "scopes": scopes, **body}, headers=owner.headers
        )
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        return PersonalToken(created["id"], created["token"], created["scopes"])

    return make
