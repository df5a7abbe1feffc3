"""The audit log: one JSON line per security event, naming user, session, client and outcome,
never a password or a token (in the line or in the event's row); and under gunicorn, the lines
actually get written somewhere.
"""

from __future__ import annotations

import http.client
import json
import logging

import pytest
import sqlalchemy as sa
from support.accounts import PASSWORD
from support.servers import Deployment, Server

from api.database import db
from api.models import AuditEvent

NEW_PASSWORD = "a brand new passphrase"
ADMIN_PASSWORD = "the admin's own passphrase"
BOB_PASSWORD = "bob's first passphrase"
FIELDS = {"time", "event", "outcome", "user_id", "session_id", "client"}
# Every line also names its row, the authenticated actor (or null) and the user agent.
ROW_FIELDS = {"id", "actor_id", "user_agent"}


@pytest.fixture
def config(config):
    # No refresh leeway: the session below reuses a refresh token at once, as a thief would.
    return {**config, "LOGIN_RATE_LIMIT": "5 per minute", "REFRESH_REUSE_LEEWAY": 0}


@pytest.fixture
def audit_lines(caplog):
    """The audit log's lines, as the handler would write them."""
    caplog.set_level(logging.INFO, logger="tessera.audit")

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "tessera.audit"]

    return lines


@pytest.fixture
def refusal_lines(caplog):
    """The lines of refusals that write no row (``refusal_tally``), parsed."""
    caplog.set_level(logging.INFO, logger="tessera.audit")

    def lines() -> list[dict]:
        return [
            json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit.refusals"
        ]

    return lines


def _events(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


def _full_session(client, make_user, login) -> tuple[list[str], dict]:
    """Log in, fail, refresh, reuse, end sessions, change a password, administer a user."""
    make_user("root", ADMIN_PASSWORD, is_admin=True)
    admin = login("root", ADMIN_PASSWORD)
    alice_id = make_user("alice")
    secrets_seen = [PASSWORD, NEW_PASSWORD, ADMIN_PASSWORD, BOB_PASSWORD, "wrong passphrase"]
    secrets_seen += [admin.access_token, admin.refresh_token]

    first = client.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    client.post("/login", json={"username": "alice", "password": "wrong passphrase"})
    client.post("/login", json={"username": "mallory", "password": "wrong passphrase"})
    refreshed = client.post("/refresh", json={"refresh_token": first["refresh_token"]}).get_json()
    client.post("/refresh", json={"refresh_token": first["refresh_token"]})  # reuse
    second = client.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    third = client.post("/login", json={"username": "alice", "password": PASSWORD}).get_json()
    second_auth = {"Authorization": f"Bearer {second['access_token']}"}
    third_auth = {"Authorization": f"Bearer {third['access_token']}"}
    sessions = client.get("/sessions", headers=second_auth).get_json()["items"]
    ids = {s["current"]: s["id"] for s in sessions}
    other = next(s["id"] for s in sessions if not s["current"])
    client.delete(f"/sessions/{other}", headers=second_auth)  # ends the third login's session
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    client.post("/password", json=body, headers=second_auth)
    client.post("/logout", headers=second_auth)
    bob = {"username": "bob", "password": BOB_PASSWORD}
    bob_id = client.post("/users", json=bob, headers=admin.headers).get_json()["id"]
    client.patch(f"/users/{bob_id}", json={"is_admin": True}, headers=admin.headers)
    client.delete(f"/users/{bob_id}", headers=admin.headers)
    for _ in range(6):
        client.post("/login", json={"username": "alice", "password": "wrong passphrase"})
    for tokens in (first, refreshed, second, third):
        secrets_seen += [tokens["access_token"], tokens["refresh_token"]]
    secrets_seen += [second_auth["Authorization"], third_auth["Authorization"]]
    return secrets_seen, {"alice": alice_id, "current": ids[True], "other": other, "bob": bob_id}


def test_a_full_session_logs_every_security_event_as_one_json_line(
    client, make_user, login, audit_lines, refusal_lines
):
    _, ids = _full_session(client, make_user, login)
    lines = audit_lines()
    events = _events(lines)
    for event in events:
        assert set(event) >= FIELDS, event
        assert set(event) >= ROW_FIELDS, event
        assert event["time"].endswith("+00:00")
        assert event["client"] == "127.0.0.1" or event["client"] == "cli"
    seen = {(e["event"], e["outcome"]) for e in events}
    assert {
        ("login", "success"),
        ("login", "failure"),
        ("refresh", "success"),
        ("refresh_reuse", "revoked"),
        ("session_ended", "success"),
        ("password_changed", "success"),
        ("logout", "success"),
        ("user_created", "success"),
        ("user_changed", "success"),
        ("user_deleted", "success"),
    } <= seen
    assert ("rate_limited", "refused") not in seen  # a 429 is no row, and no line of its own

    def one(name: str, outcome: str = "success", **match) -> dict:
        found = [
            e
            for e in events
            if e["event"] == name
            and e["outcome"] == outcome
            and all(e.get(k) == v for k, v in match.items())
        ]
        assert found, (name, outcome, match)
        return found[0]

    alice = ids["alice"]
    assert one("login", user_id=alice)["session_id"]
    reused = one("refresh_reuse", "revoked")
    assert one("refresh", user_id=alice)["session_id"] == reused["session_id"]
    assert one("login", "failure", reason="wrong password")["user_id"] == alice
    unknown = one("login", "failure", reason="unknown user")
    assert unknown["username"] is None and "mallory" not in json.dumps(unknown)
    assert one("session_ended", session_id=ids["other"])["user_id"] == alice
    assert one("password_changed", session_id=ids["current"])["user_id"] == alice
    assert one("logout", session_id=ids["current"])["user_id"] == alice
    created = one("user_created", user_id=ids["bob"])
    assert created["actor_id"] != ids["bob"]  # the admin who did it
    assert one("user_changed", user_id=ids["bob"])["fields"] == ["is_admin"]
    assert one("user_deleted", user_id=ids["bob"])["actor_id"] == created["actor_id"]
    [limited] = [line for line in refusal_lines() if line["event"] == "rate_limited"]
    assert (limited["outcome"], limited["client"]) == ("refused", "127.0.0.1")
    assert "id" not in limited  # no row stands behind it


def test_no_password_token_or_authorization_header_reaches_the_log(
    client, make_user, login, audit_lines
):
    secrets_seen, _ = _full_session(client, make_user, login)
    text = "\n".join(audit_lines())
    assert text
    for secret in secrets_seen:
        assert secret not in text
        # Nor any recognisable piece of a token: its signature or its payload.
        for piece in secret.split(".")[2:]:
            assert len(piece) < 8 or piece not in text


def test_no_password_token_or_authorization_header_reaches_an_event_row(
    app, client, make_user, login
):
    secrets_seen, _ = _full_session(client, make_user, login)
    with app.app_context():
        rows = db.session.execute(sa.select(AuditEvent.__table__)).mappings().all()
    assert len(rows) >= 19  # every event but the 429s, which write no row
    # Every column of every row, the event's own fields as the database holds them.
    text = "\n".join(json.dumps(dict(row), default=str) for row in rows)
    for secret in secrets_seen:
        assert secret not in text
        for piece in secret.split(".")[2:]:
            assert len(piece) < 8 or piece not in text


@pytest.mark.parametrize(
    "username",
    [
        "x\r\nINFO fake line",
        "x\nx",
        "x\u2028y\u2029z",
        "\x1b[31mred\x1b[0m",
        'x", "outcome": "success',
    ],
)
def test_a_hostile_username_stays_inside_one_line(client, audit_lines, username):
    response = client.post("/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 401
    [line] = audit_lines()
    assert line.isascii() and line.isprintable()
    event = json.loads(line)
    assert event["username"] is None  # no account's name: what was typed is not kept
    assert event["outcome"] == "failure"


def test_a_name_that_is_no_accounts_is_kept_nowhere(client, admin, alice, audit_lines):
    typed = "Tr0ub4dor.3-horse"  # a password typed into the name field, as a username can be
    response = client.post("/login", json={"username": typed, "password": PASSWORD})
    assert response.status_code == 401
    client.post("/login", json={"username": "ALICE", "password": typed})  # a known name
    page = client.get("/audit", headers=admin.headers).get_json()
    for kept in ["\n".join(audit_lines()), json.dumps(page)]:
        assert typed.lower() not in kept.lower()
    failures = [e for e in page["items"] if (e["event"], e["outcome"]) == ("login", "failure")]
    assert [(e["user_id"], e["fields"]) for e in failures] == [
        (alice.user_id, {"reason": "wrong password"}),
        (None, {"reason": "unknown user", "username": None}),
    ]


def test_cli_actions_are_logged_with_cli_as_the_client(cli, audit_lines):
    assert cli("users", "create", "carol", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    assert cli("users", "deactivate", "carol").exit_code == 0
    events = _events(audit_lines())
    assert [(e["event"], e["client"]) for e in events] == [
        ("user_created", "cli"),
        ("user_changed", "cli"),
    ]
    assert PASSWORD not in "".join(audit_lines())


def _post(port: int, path: str, body: dict) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        # No version banner: gunicorn says only its name.
        assert not any(c.isdigit() for c in response.getheader("Server", ""))
        return response.status
    finally:
        connection.close()


def test_under_gunicorn_audit_lines_reach_stderr(tmp_path, backend):
    if backend != "sqlite":
        pytest.skip("one server on SQLite shows where the lines go; the backend changes nothing")
    deployment = Deployment(f"sqlite:///{tmp_path / 'audit.db'}", tmp_path)
    deployment.prepare("alice", password=PASSWORD)
    with Server(deployment, "audit", separate_stdout=True) as server:
        assert _post(server.port, "/login", {"username": "alice", "password": PASSWORD}) == 200
        wrong = {"username": "alice", "password": "wrong passphrase"}
        assert _post(server.port, "/login", wrong) == 401
    logged = server.log()
    events = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert [(e["event"], e["outcome"]) for e in events] == [
        ("login", "success"),
        ("login", "failure"),
    ]
    assert events[0]["session_id"] and events[0]["client"] == "127.0.0.1"
    assert PASSWORD not in logged + server.stdout()
