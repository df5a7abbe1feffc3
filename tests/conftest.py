"""Fixtures: a fresh app and database per test, real logins through ``POST /login``.

Every test runs on SQLite. When ``TEST_DATABASE_URL`` (PostgreSQL) and ``TEST_REDIS_URL`` are
set, every test runs on PostgreSQL and Redis as well, each in its own schema and key prefix.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from support import browser as browser_support
from support.accounts import PASSWORD, Enrolled, Login, PersonalToken, totp_code
from support.backends import BACKENDS, backend_for
from support.hashing import CHEAP_HASHING, CountingHasher
from support.smtp import mailbox_on_a_free_port
from support.statements import recording
from werkzeug.serving import make_server

from api import create_app
from api.database import create_schema, db
from api.origin import CLI
from api.services import accounts, mail_delivery


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def backend_config(backend, tmp_path):
    """A database of the test's own (and on PostgreSQL a Redis key prefix); dropped afterwards."""
    with backend_for(backend, tmp_path / "test.db") as place:
        yield place.config()


@pytest.fixture
def config(backend_config):
    """The test app's configuration; tests may change it before using ``app``."""
    return {
        "TESTING": True,
        "SECRET_KEY": secrets.token_hex(32),
        **CHEAP_HASHING,
        **backend_config,
    }


@pytest.fixture
def app(config, tmp_path):
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    with app.app_context():
        create_schema()
    yield app
    mail_delivery.stop(app)  # no sender outlives its test, retrying a mail server gone with it
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
            user = accounts.create_user(username, password, is_admin=is_admin, origin=CLI)
            if not is_active:
                accounts.update_user(user, {"is_active": False}, origin=CLI)
            return user.id

    return make


@pytest.fixture
def login(client):
    def log_in(username: str, password: str = PASSWORD, **headers) -> Login:
        response = client.post(
            "/login", json={"username": username, "password": password}, headers=headers
        )
        return _logged_in(client, response)

    return log_in


def _logged_in(client, response) -> Login:
    """The Login a token-pair answer gives, its user asked of ``GET /me``."""
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    me = client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    return Login(me.get_json()["id"], body["access_token"], body["refresh_token"])


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
def hasher(app, monkeypatch) -> CountingHasher:
    """Count the app's password verifications and hashes (Django's counting-hasher test)."""
    hashing = app.extensions["tessera.passwords"]
    counting = CountingHasher(hashing.hasher)
    monkeypatch.setattr(hashing, "hasher", counting)
    return counting


@pytest.fixture
def queries(app):
    """Record the SQL statements the app sends; ``queries.clear()`` to start counting.

    Recorded on the DBAPI connections (``support.statements``), so a statement run on a raw
    cursor counts as much as one Core runs. On SQLite the parameters are in the text.
    """
    with app.app_context():
        engine = db.engine
    with recording(engine) as statements:
        yield statements


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


@pytest.fixture
def enrol(client):
    """Turn TOTP on for a logged-in user through the endpoints, as an authenticator app would."""

    def enrol_totp(owner: Login) -> Enrolled:
        started = client.post("/mfa/totp", headers=owner.headers)
        assert started.status_code == 200, started.get_json()
        secret = started.get_json()["secret"]
        confirmed = client.post(
            "/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=owner.headers
        )
        assert confirmed.status_code == 200, confirmed.get_json()
        return Enrolled(secret, confirmed.get_json()["recovery_codes"])

    return enrol_totp


@pytest.fixture
def mfa_token(client):
    """Log in with the right password of a user with TOTP on: the ``mfa_token`` it answers."""

    def first_step(username: str, password: str = PASSWORD, **headers) -> str:
        response = client.post(
            "/login", json={"username": username, "password": password}, headers=headers
        )
        assert response.status_code == 401, response.get_json()
        assert response.get_json()["mfa_required"] is True
        return response.get_json()["mfa_token"]

    return first_step


@pytest.fixture
def totp_login(client, mfa_token):
    """Log in in two steps, the password then a code (``steps`` away from now's)."""

    def log_in(username: str, secret: str, steps: int = 0) -> Login:
        token = mfa_token(username)
        response = client.post(
            "/login/mfa", json={"mfa_token": token, "code": totp_code(secret, steps)}
        )
        return _logged_in(client, response)

    return log_in


@pytest.fixture
def mailbox():
    """A real SMTP server (aiosmtpd) on a loopback port, stopped after the test."""
    box = mailbox_on_a_free_port()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def verified_address(app, client, mailbox):
    """Give a user an address through ``users set-email`` and verify it with the mailed token,
    through ``POST /email/verify``, as its owner would (``MAIL_URL`` must be the mailbox's)."""
    runner = app.test_cli_runner()

    def verify(username: str, address: str) -> None:
        result = runner.invoke(args=["users", "set-email", username, address])
        assert result.exit_code == 0, result.output
        token = mailbox.wait_for().token
        response = client.post("/email/verify", json={"token": token})
        assert response.status_code == 204, response.get_json()

    return verify


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a browser test module (``support.browser``)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install -r requirements-dev.txt to enable"
    )
    with sync_api.sync_playwright() as playwright:
        launched = browser_support.launch(playwright)
        try:
            yield launched
        finally:
            launched.close()
