"""The audit trail: one row per security event, written in the change's own transaction, read
through ``GET /events`` (a user's own), ``GET /audit`` (admins) and ``manage.py audit``.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.accounts import PASSWORD
from support.seeding import add_events
from support.statements import StatementRecorder, recording

from api import create_app
from api.database import create_schema, db
from api.models import AuditEvent, LoginSession, User, utcnow
from api.origin import CLI
from api.resources.audit_events import AuditEventSchema
from api.services import audit_events

ITEM_FIELDS = {
    "id",
    "time",
    "event",
    "outcome",
    "user_id",
    "actor_id",
    "session_id",
    "client",
    "user_agent",
    "fields",
}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Tessera-test"


@pytest.fixture
def config(config):
    # Tests here move the clock by hours; their tokens should outlive that. A refresh token
    # presented again is a reuse here at once (the leeway has its own tests).
    return {**config, "ACCESS_TOKEN_MAX_AGE": 24 * 3600, "REFRESH_REUSE_LEEWAY": 0}


@pytest.fixture
def audit_lines(caplog):
    """The audit log's lines, parsed."""
    caplog.set_level(logging.INFO, logger="tessera.audit")

    def lines() -> list[dict]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]

    return lines


def rows(app, **where) -> list[dict]:
    """Every event row (matching ``where``), oldest first, as an item of ``GET /audit``."""
    with app.app_context():
        query = sa.select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        return AuditEventSchema(many=True).dump(db.session.scalars(query))


@pytest.fixture
def seed(app):
    """Insert audit events in bulk, behind the services' back (``support.seeding``)."""

    def add(*args, **kwargs) -> None:
        with app.app_context():
            add_events(*args, **kwargs)

    return add


def _new(app, before: int) -> list[tuple[str, str]]:
    return [(row["event"], row["outcome"]) for row in rows(app) if row["id"] > before]


def _last_id(app) -> int:
    return max((row["id"] for row in rows(app)), default=0)


# --- one event per action ------------------------------------------------------------------


def test_each_action_writes_exactly_one_event_and_a_read_none(clock, app, client, make_user, admin):
    make_user("alice")
    body = {"username": "alice", "password": PASSWORD}

    def run(expected: list[tuple[str, str]], call):
        """Make one request; assert it wrote exactly the events expected."""
        before = _last_id(app)
        response = call()
        assert _new(app, before) == expected, (expected, response.status_code)
        return response.get_json(silent=True)

    pair = run([("login", "success")], lambda: client.post("/login", json=body))
    run([("login", "failure")], lambda: client.post("/login", json={**body, "password": "nope!"}))
    refresh = {"refresh_token": pair["refresh_token"]}
    run([("refresh", "success")], lambda: client.post("/refresh", json=refresh))
    run([("refresh_reuse", "revoked")], lambda: client.post("/refresh", json=refresh))
    # A garbage token proves nothing: counted in the metrics, no row (test_audit_flood.py).
    run([], lambda: client.post("/refresh", json={"refresh_token": "x.y"}))
    pair = run([("login", "success")], lambda: client.post("/login", json=body))
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    run([], lambda: client.get("/me", headers=auth))
    run([], lambda: client.get("/events", headers=auth))
    change = {"current_password": PASSWORD, "new_password": "a new long passphrase"}
    wrong = {**change, "current_password": "not the password"}
    run(
        [("password_changed", "failure")],
        lambda: client.post("/password", json=wrong, headers=auth),
    )
    run(
        [("password_changed", "success")],
        lambda: client.post("/password", json=change, headers=auth),
    )
    run([("logout", "success")], lambda: client.post("/logout", headers=auth))
    bob = {"username": "bob", "password": "bob's own passphrase"}
    bob_id = run(
        [("user_created", "success")],
        lambda: client.post("/users", json=bob, headers=admin.headers),
    )["id"]
    promote = {"is_admin": True}
    run(
        [("user_changed", "success")],
        lambda: client.patch(f"/users/{bob_id}", json=promote, headers=admin.headers),
    )
    run(
        [("user_deleted", "success")],
        lambda: client.delete(f"/users/{bob_id}", headers=admin.headers),
    )


def test_an_event_names_user_session_actor_client_and_user_agent(
    clock, app, client, make_user, admin
):
    alice_id = make_user("alice")
    body = {"username": "alice", "password": PASSWORD}
    client.post("/login", json=body, headers={"User-Agent": BROWSER})
    client.post("/login", json={**body, "password": "wrong passphrase"})
    client.patch(f"/users/{alice_id}", json={"is_active": False}, headers=admin.headers)
    [login, failure] = rows(app, user_id=alice_id, event="login")
    with app.app_context():
        session_id = db.session.scalar(
            sa.select(LoginSession.id).where(LoginSession.user_id == alice_id)
        )
    assert login == {
        "id": login["id"],
        "time": "2026-11-29T10:00:00+00:00",
        "event": "login",
        "outcome": "success",
        "user_id": alice_id,
        "actor_id": None,  # nobody was authenticated yet
        "session_id": session_id,
        "client": "127.0.0.1",
        "user_agent": BROWSER,
        "fields": {},
    }
    assert failure["outcome"] == "failure"
    assert failure["fields"] == {"reason": "wrong password"}
    [changed] = rows(app, user_id=alice_id, event="user_changed")
    assert changed["actor_id"] == admin.user_id
    assert changed["fields"] == {"fields": ["is_active"], "sessions_ended": 1, "tokens_ended": 0}


def test_cli_events_name_cli_as_the_client_and_no_actor(app, cli):
    assert cli("users", "create", "carol", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    [created] = rows(app, event="user_created")
    assert (created["client"], created["actor_id"], created["user_agent"]) == ("cli", None, None)
    assert created["fields"] == {"username": "carol", "is_admin": False}


def test_the_line_and_the_row_of_each_event_agree(clock, app, client, make_user, audit_lines):
    make_user("alice")
    body = {"username": "alice", "password": PASSWORD}
    pair = client.post("/login", json=body, headers={"User-Agent": BROWSER}).get_json()
    for _ in range(11):  # past the rate limit: wrong passwords are rows, the 429s none
        client.post("/login", json={**body, "password": "wrong passphrase"})
    client.post("/refresh", json={"refresh_token": pair["refresh_token"]})
    client.post("/refresh", json={"refresh_token": pair["refresh_token"]})  # reuse
    lines = audit_lines()
    written = rows(app)
    assert {"refresh_reuse", "login", "refresh"} <= {r["event"] for r in written}
    assert "rate_limited" not in {r["event"] for r in written}
    assert [line["id"] for line in lines] == [row["id"] for row in written]
    for line, row in zip(lines, written, strict=True):
        columns = {name: value for name, value in row.items() if name != "fields"}
        assert line == {**columns, **row["fields"]}


# --- no change without its event, no event without its change -------------------------------


@pytest.fixture
def failing_flush(app):
    """Call it to make every flush fail after its statements ran, as a commit can at its end."""

    def fail(session, flush_context):
        raise RuntimeError("the database refused the transaction")

    def arm() -> None:
        sa.event.listen(db.session, "after_flush", fail)

    yield arm
    if sa.event.contains(db.session, "after_flush", fail):
        sa.event.remove(db.session, "after_flush", fail)


def test_a_change_rolled_back_leaves_neither_row_nor_line(
    app, client, make_user, admin, audit_lines, failing_flush
):
    bob_id = make_user("bob")
    before = _last_id(app)
    logged = len(audit_lines())
    failing_flush()
    response = client.patch(f"/users/{bob_id}", json={"is_admin": True}, headers=admin.headers)
    assert response.status_code == 500
    with app.app_context():
        assert db.session.get(User, bob_id).is_admin is False
    assert _new(app, before) == []
    assert audit_lines()[logged:] == []


def test_a_login_whose_session_cannot_be_stored_leaves_no_event(
    app, client, make_user, audit_lines, monkeypatch
):
    make_user("alice")
    body = {"username": "alice", "password": PASSWORD}
    assert client.post("/login", json=body).status_code == 200
    with app.app_context():
        taken = db.session.scalar(sa.select(LoginSession.id))
    # The next session gets an id already in use: the primary key refuses it at the commit,
    # which the login answers as it answers a user deleted meanwhile.
    monkeypatch.setattr("api.services.sessions.secrets.token_urlsafe", lambda n: taken)
    before, logged = _last_id(app), len(audit_lines())
    assert client.post("/login", json=body).status_code == 401
    assert _new(app, before) == []
    assert audit_lines()[logged:] == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 1


def test_a_refusal_is_recorded_although_its_use_case_rolls_back(app, client, make_user):
    alice_id = make_user("alice")
    body = {"username": "alice", "password": "wrong passphrase"}
    assert client.post("/login", json=body).status_code == 401
    assert [r["outcome"] for r in rows(app, user_id=alice_id, event="login")] == ["failure"]


def test_a_login_and_its_event_are_one_transaction(clock, app, client, alice):
    """Statements recorded at the driver; where a transaction ends, Core's commit event says."""
    statements: list[str] = []

    def record(statement: str) -> None:
        table = re.search(r"(?:INTO|UPDATE|FROM) (\w+)", statement)
        statements.append(f"{statement.split()[0]} {table.group(1) if table else ''}")

    def commit(conn):
        statements.append("COMMIT")

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "commit", commit)
    try:
        with StatementRecorder(engine, record):
            clock.shift(1)
            body = {"username": "alice", "password": PASSWORD}
            assert client.post("/login", json=body).status_code == 200
    finally:
        sa.event.remove(engine, "commit", commit)
    # Without Redis the attempt is counted in the database first, each counter in a short
    # transaction of its own, and given back once the password is right.
    counters = [i for i, statement in enumerate(statements) if "attempt_counters" in statement]
    if not app.config["REDIS_URL"]:
        assert [statements[i].split()[0] for i in counters] == ["INSERT"] * 2 + ["UPDATE"] * 2
        assert counters[1] < statements.index("SELECT users") < counters[2]
    for i in counters:
        assert statements[i + 1] == "COMMIT"
    login = [s for i, s in enumerate(statements) if i not in counters and i - 1 not in counters]
    # The user; then, in one transaction, the network's upsert, the session, last_login_at and
    # the event.
    assert login[0].startswith("SELECT")
    assert sorted(login[1:-1]) == [
        "INSERT audit_events",
        "INSERT login_networks",
        "INSERT login_sessions",
        "UPDATE users",
    ]
    assert login[-1] == "COMMIT" and login.count("COMMIT") == 1


def test_reading_writes_no_event(clock, app, client, alice, admin):
    before = _last_id(app)
    for path, headers in [("/me", alice.headers), ("/events", alice.headers)]:
        assert client.get(path, headers=headers).status_code == 200
    assert client.get("/audit", headers=admin.headers).status_code == 200
    assert _new(app, before) == []


# --- GET /events ---------------------------------------------------------------------------


def test_events_lists_the_callers_own_newest_first(clock, app, client, make_user, alice, bob):
    client.post("/login", json={"username": "alice", "password": "wrong passphrase"})
    client.post("/login", json={"username": "bob", "password": "wrong passphrase"})
    response = client.get("/events", headers=alice.headers)
    assert response.status_code == 200
    page = response.get_json()
    assert (page["page"], page["per_page"], page["total"]) == (1, 20, 3)
    assert [(e["event"], e["outcome"]) for e in page["items"]] == [
        ("login", "failure"),
        ("login", "success"),
        ("user_created", "success"),
    ]
    assert {e["user_id"] for e in page["items"]} == {alice.user_id}
    assert set(page["items"][0]) == ITEM_FIELDS
    assert page["items"] == list(reversed(rows(app, user_id=alice.user_id)))


def test_events_are_paginated(clock, app, client, alice, seed):
    seed(45, user_id=alice.user_id)
    first = client.get("/events?per_page=20", headers=alice.headers).get_json()
    last = client.get("/events?page=3&per_page=20", headers=alice.headers).get_json()
    past = client.get("/events?page=4&per_page=20", headers=alice.headers).get_json()
    assert first["total"] == last["total"] == past["total"] == 47
    assert len(first["items"]) == 20 and len(last["items"]) == 7 and past["items"] == []
    ids = [e["id"] for e in first["items"]]
    assert ids == sorted(ids, reverse=True)
    assert last["items"][-1]["event"] == "user_created"


def test_events_needs_a_token(client):
    assert client.get("/events").status_code == 401


# --- GET /audit ----------------------------------------------------------------------------


def test_audit_is_for_admins_only(client, alice):
    assert client.get("/audit", headers=alice.headers).status_code == 403


def _audit(client, admin, **query) -> dict:
    response = client.get("/audit", query_string=query, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_audit_filters_by_user_event_and_time(clock, app, client, make_user, admin):
    alice_id = make_user("alice")
    start = utcnow()
    clock.shift(3600)
    client.post("/login", json={"username": "alice", "password": PASSWORD})
    clock.shift(3600)
    client.post("/login", json={"username": "alice", "password": "wrong passphrase"})
    client.post("/login", json={"username": "root", "password": "wrong passphrase"})
    one_hour, two_hours = (start + timedelta(hours=h) for h in (1, 2))

    def events(**query) -> list[tuple[str, str, int | None]]:
        page = _audit(client, admin, **query)
        assert page["total"] == len(page["items"])
        return [(e["event"], e["outcome"], e["user_id"]) for e in page["items"]]

    assert events(user_id=alice_id) == [
        ("login", "failure", alice_id),
        ("login", "success", alice_id),
        ("user_created", "success", alice_id),
    ]
    assert events(event="user_created") == [
        ("user_created", "success", alice_id),
        ("user_created", "success", admin.user_id),
    ]
    assert events(user_id=alice_id, since=two_hours.isoformat()) == [("login", "failure", alice_id)]
    assert events(user_id=alice_id, until=two_hours.isoformat()) == [
        ("login", "success", alice_id),
        ("user_created", "success", alice_id),
    ]
    window = {"since": one_hour.isoformat(), "until": two_hours.isoformat()}
    assert events(user_id=alice_id, **window) == [("login", "success", alice_id)]
    # Any offset names the same moment.
    assert events(user_id=alice_id, since="2026-11-29T13:00:00+01:00") == [
        ("login", "failure", alice_id)
    ]
    assert events(user_id=alice_id, since="2026-11-29T12:00:00Z") == [
        ("login", "failure", alice_id)
    ]
    assert events(event="login", user_id=admin.user_id) == [
        ("login", "failure", admin.user_id),
        ("login", "success", admin.user_id),
    ]
    assert events(event="no_such_event") == []


def test_audit_is_paginated_newest_first(clock, app, client, admin, seed):
    seed(30)
    first = _audit(client, admin, per_page=25)
    second = _audit(client, admin, page=2, per_page=25)
    assert first["total"] == second["total"] == 32
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 32


def test_a_deleted_users_events_are_kept(clock, app, client, make_user, admin):
    bob_id = make_user("bob")
    client.post("/login", json={"username": "bob", "password": PASSWORD})
    assert client.delete(f"/users/{bob_id}", headers=admin.headers).status_code == 204
    page = _audit(client, admin, user_id=bob_id)
    assert [(e["event"], e["actor_id"]) for e in page["items"]] == [
        ("user_deleted", admin.user_id),
        ("login", None),
        ("user_created", None),
    ]
    assert page["items"][0]["fields"] == {"username": "bob"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"user_id": "0"}, "user_id"),
        ({"user_id": "-1"}, "user_id"),
        ({"user_id": "abc"}, "user_id"),
        ({"user_id": str(2**31)}, "user_id"),
        ({"user_id": "9" * 40}, "user_id"),
        ({"event": "Login"}, "event"),
        ({"event": "login\x00"}, "event"),
        ({"event": "x" * 65}, "event"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-29T10:00:00"}, "since"),  # no offset: whose time?
        ({"since": "2026-11-29"}, "since"),
        ({"since": "2026-13-01T00:00:00+00:00"}, "since"),
        ({"since": "20261129T100000Z"}, "since"),  # ISO 8601, but not the form we answer in
        ({"since": "2026-11-29T10:00:00+0000"}, "since"),
        ({"until": "2026-11-29T10:00:00+00:00\x00"}, "until"),
        ({"page": "0"}, "page"),
    ],
)
def test_a_bad_filter_is_422(client, admin, query, field):
    response = client.get("/audit", query_string=query, headers=admin.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in response.get_json()["errors"]


FILTER_TEXT = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# Any text a URL can carry (UTF-8: no lone surrogate), in any filter.
QUERY_TEXT = st.text(st.characters(codec="utf-8"))


@FILTER_TEXT
@given(name=st.sampled_from(["since", "until", "user_id", "event"]), text=QUERY_TEXT)
def test_any_text_in_a_filter_is_an_answer_never_a_crash(client, admin, name, text):
    response = client.get("/audit", query_string={name: text}, headers=admin.headers)
    assert response.status_code in (200, 422), response.get_json()


OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@FILTER_TEXT
@given(moment=st.datetimes(timezones=OFFSETS), name=st.sampled_from(["since", "until"]))
def test_any_time_with_an_offset_is_a_filter(client, admin, moment, name):
    response = client.get("/audit", query_string={name: moment.isoformat()}, headers=admin.headers)
    assert response.status_code == 200, response.get_json()


def test_a_time_past_the_calendar_in_utc_filters_as_its_end(clock, client, admin):
    everything = _audit(client, admin)["total"]
    assert everything == 2
    assert _audit(client, admin, since="0001-01-01T00:00:00+01:00")["total"] == everything
    assert _audit(client, admin, until="0001-01-01T00:00:00+01:00")["total"] == 0
    assert _audit(client, admin, since="9999-12-31T23:59:59-01:00")["total"] == 0
    assert _audit(client, admin, until="9999-12-31T23:59:59-01:00")["total"] == everything


# --- what a page costs ---------------------------------------------------------------------


def test_a_page_of_events_costs_the_same_whatever_the_trail_holds(
    clock, app, client, alice, admin, queries, seed
):
    counts = []
    for more in (1_000, 9_000):
        seed(more)
        seed(5, user_id=alice.user_id)
        queries.clear()
        assert client.get("/events", headers=alice.headers).get_json()["total"] >= 5
        assert _audit(client, admin, user_id=alice.user_id)["items"]
        counts.append(len(queries))
    assert counts == [6, 6]  # each: the token's statement, the count and the page


def test_login_costs_the_same_statements_whatever_the_trail_holds(
    clock, app, client, alice, queries, seed
):
    counts = []
    for more in (1_000, 9_000):
        seed(more, user_id=alice.user_id)
        clock.shift(1)
        queries.clear()
        response = client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200
        counts.append(len(queries))
    # Five for the login itself (its network's upsert among them), and without Redis four for
    # the counters (counted, given back).
    assert counts == ([5, 5] if app.config["REDIS_URL"] else [9, 9])


def test_the_trail_is_read_through_its_indexes(clock, app, client, alice, admin, backend, seed):
    if backend != "sqlite":
        pytest.skip("reads SQLite's query plans")
    seed(200)
    with app.app_context():
        engine = db.engine
    with recording(engine) as seen:
        client.get("/events?page=2&per_page=5", headers=alice.headers)
        _audit(client, admin, user_id=alice.user_id, since="2026-11-29T09:00:00+00:00")
        _audit(client, admin, event="login", page=2)
        with app.app_context():
            audit_events.prune_events(90, origin=CLI)
    reads = [s for s in seen if "audit_events" in s and not s.startswith("INSERT")]
    assert len(reads) == 7
    with engine.connect() as connection:
        for statement in reads:  # SQLite's text, its parameters written in
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            steps = [row[-1] for row in plan]
            assert not [step for step in steps if step.startswith("SCAN")], (statement, steps)


# --- manage.py audit -----------------------------------------------------------------------


def test_audit_list_prints_the_trail_newest_first(clock, app, cli, make_user, client):
    alice_id = make_user("alice")
    make_user("bob")
    client.post("/login", json={"username": "alice", "password": PASSWORD})
    result = cli("audit", "list", "--json")
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert printed == list(reversed(rows(app)))
    mine = cli("audit", "list", "--user", "ALICE", "--event", "login", "--json")
    assert [json.loads(line)["user_id"] for line in mine.stdout.splitlines()] == [alice_id]
    table = cli("audit", "list", "--user", "alice").stdout.splitlines()
    header = ["id", "time", "event", "outcome", "user_id", "actor_id", "client", "fields"]
    assert table[0].split() == header
    assert [line.split()[2] for line in table[1:]] == ["login", "user_created"]
    assert table[1].split()[6] == "127.0.0.1"


def test_audit_list_filters_by_time(clock, app, cli, make_user):
    make_user("alice")
    clock.shift(3600)
    make_user("bob")
    later = cli("audit", "list", "--since", "2026-11-29T10:30:00+00:00", "--json")
    assert [json.loads(line)["fields"]["username"] for line in later.stdout.splitlines()] == ["bob"]
    earlier = cli("audit", "list", "--until", "2026-11-29T11:30:00+01:00", "--json")
    assert [json.loads(line)["fields"]["username"] for line in earlier.stdout.splitlines()] == [
        "alice"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody"], "no user named 'nobody'"),
        (["--since", "yesterday"], "--since must be an ISO 8601 time with an offset"),
        (["--until", "2026-11-29T10:00:00"], "--until must be an ISO 8601 time with an offset"),
    ],
)
def test_audit_list_refuses_bad_input_in_one_line(cli, args, message):
    result = cli("audit", "list", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_audit_prune_keeps_the_retention_period(clock, app, cli, make_user, seed):
    seed(3, at=utcnow() - timedelta(days=91))
    seed(2, at=utcnow() - timedelta(days=89))
    make_user("alice")
    result = cli("audit", "prune")
    assert result.exit_code == 0, result.output
    assert result.stdout == "3 audit event(s) deleted\n"
    left = rows(app)
    assert [r["event"] for r in left] == ["seeded", "seeded", "user_created", "audit_pruned"]
    assert left[-1]["fields"] == {"events_deleted": 3, "older_than_days": 90}
    assert left[-1]["client"] == "cli"
    assert cli("audit", "prune", "--older-than", "100").stdout == "0 audit event(s) deleted\n"
    assert cli("audit", "prune", "--older-than", "88").stdout == "2 audit event(s) deleted\n"
    assert cli("audit", "prune", "--older-than", "99999999").stdout.startswith("0 ")


def test_audit_prune_default_follows_the_configuration(clock, config, tmp_path):
    app = create_app({**config, "AUDIT_RETENTION_DAYS": 7}, str(tmp_path / "seven"))
    with app.app_context():
        create_schema()
        add_events(4, at=utcnow() - timedelta(days=8))
        add_events(1, at=utcnow() - timedelta(days=6))
    result = app.test_cli_runner().invoke(args=["audit", "prune"])
    assert result.stdout == "4 audit event(s) deleted\n"
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("abc", "--older-than must be a whole number of days"),
        ("-3", "--older-than must be a whole number of days"),
        ("0", "events can be pruned only when at least one day old"),
    ],
)
def test_audit_prune_refuses_bad_input_in_one_line(app, cli, days, message, seed):
    seed(2, at=utcnow() - timedelta(days=400))
    result = cli("audit", "prune", "--older-than", days)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {message}"
    assert len(rows(app)) == 2


def test_retention_days_are_read_from_the_environment(config, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
    app = create_app(config, str(tmp_path / "env"))
    assert app.config["AUDIT_RETENTION_DAYS"] == 30
    with app.app_context():
        db.engine.dispose()
