"""Redis down: logins fail open (the default) or closed, and the audit log says so."""

from __future__ import annotations

import json

import pytest
from support.accounts import PASSWORD
from support.loopback import closed_loopback_port

from api import create_app
from api.database import create_schema, db
from api.origin import CLI
from api.services import accounts


@pytest.fixture
def config(config):
    return {**config, "REDIS_URL": f"redis://127.0.0.1:{closed_loopback_port()}/0"}


def storage_events(caplog) -> list[dict]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    return [line for line in lines if line["event"] == "rate_limit_storage"]


def login(client, password):
    return client.post("/login", json={"username": "alice", "password": password})


def test_logins_keep_working_when_redis_is_down_and_the_audit_log_says_so(
    client, make_user, caplog
):
    make_user("alice")
    caplog.set_level("INFO", logger="tessera.audit")
    assert login(client, PASSWORD + "!").status_code == 401
    assert login(client, PASSWORD).status_code == 200
    events = storage_events(caplog)
    assert events, "no audit line says the rate-limit store is down"
    assert {e["outcome"] for e in events} == {"unavailable"}
    assert {e["failing"] for e in events} == {"open"}
    assert "ConnectionError" in events[0]["error"]


def test_logins_get_503_when_redis_is_down_and_failing_closed(config, tmp_path, caplog):
    app = create_app({**config, "RATE_LIMIT_FAIL_OPEN": False}, str(tmp_path / "closed"))
    with app.app_context():
        create_schema()
        accounts.create_user("alice", PASSWORD, origin=CLI)
    caplog.set_level("INFO", logger="tessera.audit")
    response = login(app.test_client(), PASSWORD)
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert "access_token" not in response.get_data(as_text=True)
    assert [e["failing"] for e in storage_events(caplog)] == ["closed"]
    with app.app_context():
        db.engine.dispose()
