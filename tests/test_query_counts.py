"""What each request costs the database: statements per path, and none for a refused token.

The counts are the contract of the hot path: a valid token costs exactly one
statement that loads user and session together, a refused one costs none, a page of notes
costs at most three, and none of it grows with the number of users or notes.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.accounts import PASSWORD
from support.forged_tokens import forged_signature, unknown_key
from support.seeding import add_notes, add_users
from support.statements import recording

from api.credentials import scopes
from api.database import db
from api.models import LoginSession, User, utcnow
from api.origin import CLI
from api.services import accounts

ME = "/me"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refusal(response) -> str | None:
    return response.get_json().get("detail") if response.status_code == 401 else None


def test_valid_token_costs_one_statement_for_user_and_session(clock, client, alice, queries):
    queries.clear()
    response = client.get(ME, headers=alice.headers)
    assert response.status_code == 200
    assert len(queries) == 1
    statement = queries[0].lower()
    assert "from login_sessions join users" in statement or "join login_sessions" in statement


def _refused_tokens(alice) -> dict[str, dict[str, str]]:
    return {
        "forged": _bearer(forged_signature(alice.access_token)),
        "unknown key": _bearer(unknown_key(alice.access_token)),
        "refresh token": _bearer(alice.refresh_token),
        "malformed": {"Authorization": "Bearer not a token"},
        "no header": {},
    }


@pytest.mark.parametrize(
    "case", ["forged", "unknown key", "refresh token", "malformed", "no header"]
)
def test_refused_token_costs_no_statement(client, alice, queries, case):
    queries.clear()
    response = client.get(ME, headers=_refused_tokens(alice)[case])
    assert response.status_code == 401
    assert queries == []


def test_expired_token_costs_no_statement(clock, client, alice, queries):
    clock.shift(901)
    queries.clear()
    response = client.get(ME, headers=alice.headers)
    assert _refusal(response) == "token expired"
    assert queries == []


@pytest.fixture
def no_database(app):
    """Make any use of the database, even taking a connection from the pool, an error."""

    def refuse(*args):
        raise AssertionError("the database was reached")

    with app.app_context():
        pool = db.engine.pool
    sa.event.listen(pool, "checkout", refuse)
    yield
    sa.event.remove(pool, "checkout", refuse)


@pytest.mark.parametrize(
    "case", ["forged", "unknown key", "refresh token", "malformed", "no header"]
)
def test_refused_token_never_reaches_the_database(client, alice, no_database, case):
    response = client.get(ME, headers=_refused_tokens(alice)[case])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api"')


def test_expired_token_never_reaches_the_database(clock, client, alice, no_database):
    clock.shift(901)
    assert _refusal(client.get(ME, headers=alice.headers)) == "token expired"


def test_revoked_session_costs_one_statement(clock, client, alice, queries):
    assert client.post("/logout", headers=alice.headers).status_code == 204
    queries.clear()
    response = client.get(ME, headers=alice.headers)
    assert _refusal(response) == "session revoked"
    assert len(queries) == 1


def test_page_of_notes_costs_at_most_three_statements_whatever_the_count(
    clock, app, client, alice, queries
):
    counts = []
    for notes in (10, 490):
        with app.app_context():
            add_notes(alice.user_id, notes)
        queries.clear()
        response = client.get("/notes?page=1&per_page=20", headers=alice.headers)
        assert response.status_code == 200
        counts.append(len(queries))
    assert response.get_json()["total"] == 500
    assert len(response.get_json()["items"]) == 20
    assert counts[0] == counts[1] <= 3


def test_query_count_does_not_grow_with_the_number_of_users(clock, app, client, alice, queries):
    counts = []
    for more in (1_000, 9_000):
        with app.app_context():
            add_users(more)
        queries.clear()
        assert client.get(ME, headers=alice.headers).status_code == 200
        counts.append(len(queries))
    assert counts == [1, 1]


def test_login_does_the_same_statements_however_many_users(clock, app, client, alice, queries):
    counts = []
    for more in (1_000, 9_000):
        with app.app_context():
            add_users(more)
        clock.shift(1)  # a new last_login_at to write
        queries.clear()
        response = client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200
        counts.append(len(queries))
    # Without Redis, the attempt counted on the address and the username, each committed at
    # once, and given back on both once the password is right (four); the user; then the
    # login's network (one upsert), the session, last_login_at and the login's audit event,
    # written in one transaction.
    assert counts == ([5, 5] if app.config["REDIS_URL"] else [9, 9])


def test_failed_logins_all_cost_the_same_statements(clock, app, client, make_user, queries):
    """The attempt counted on the address and the username before the password is checked (in
    the database without Redis), the user lookup, then the refusal's audit event, committed on
    its own."""
    make_user("alice")
    make_user("carol", is_active=False)
    counts = {}
    for username, password in [
        ("alice", PASSWORD + "!"),
        ("nobody", PASSWORD),
        ("carol", PASSWORD),
    ]:
        queries.clear()
        response = client.post("/login", json={"username": username, "password": password})
        assert response.status_code == 401
        counts[username] = len(queries)
    counted_in_the_database = not app.config["REDIS_URL"]
    each = 4 if counted_in_the_database else 2
    assert counts == {"alice": each, "nobody": each, "carol": each}
    if counted_in_the_database:
        assert all(s.startswith("INSERT INTO attempt_counters") for s in queries[:2])
    assert queries[-1].startswith("INSERT INTO audit_events")


# --- the hot-path lookup agrees with the ORM ---------------------------------------------------


def _orm_view(app, session_id: str) -> tuple[User, LoginSession]:
    """What the ORM says about a session and its user."""
    with app.app_context():
        login_session = db.session.get(LoginSession, session_id)
        user = db.session.get(User, login_session.user_id)
        db.session.expunge_all()
        return user, login_session


def _session_id(app, user_id: int) -> str:
    with app.app_context():
        return db.session.scalar(
            sa.select(LoginSession.id)
            .where(LoginSession.user_id == user_id)
            .order_by(LoginSession.created_at.desc())
        )


def test_hot_path_returns_the_user_the_orm_loads(clock, app, client, make_user, login):
    make_user("alice")
    make_user("boss", is_admin=True)
    for name in ("alice", "boss"):
        session = login(name)
        user, _ = _orm_view(app, _session_id(app, session.user_id))
        body = client.get(ME, headers=session.headers).get_json()
        assert body == {
            "id": user.id,
            "username": user.username,
            "is_admin": user.is_admin,
            "created_at": user.created_at.isoformat(),
            "email": user.email,
            "email_verified": user.email_verified,
            "scopes": sorted(scopes.granted_by_role(user.is_admin)),
            "token_type": "Bearer",
        }


def test_hot_path_sees_a_promotion_the_orm_made(clock, app, client, alice):
    with app.app_context():
        accounts.update_user(db.session.get(User, alice.user_id), {"is_admin": True}, origin=CLI)
    assert client.get(ME, headers=alice.headers).get_json()["is_admin"] is True


def test_hot_path_refuses_a_deactivated_user_as_the_orm_shows_them(clock, app, client, alice):
    session_id = _session_id(app, alice.user_id)
    with app.app_context():
        user = db.session.get(User, alice.user_id)
        user.is_active = False  # without ending the session: the lookup must still refuse
        db.session.commit()
    user, login_session = _orm_view(app, session_id)
    assert user.is_active is False and login_session.revoked_at is None
    assert _refusal(client.get(ME, headers=alice.headers)) == "user deactivated"


def test_hot_path_refuses_a_revoked_session_as_the_orm_shows_it(clock, app, client, alice, bob):
    session_id = _session_id(app, alice.user_id)
    assert client.post("/logout", headers=alice.headers).status_code == 204
    _, login_session = _orm_view(app, session_id)
    assert login_session.revoked_at is not None
    assert _refusal(client.get(ME, headers=alice.headers)) == "session revoked"
    assert client.get(ME, headers=bob.headers).get_json()["username"] == "bob"


def test_hot_path_refuses_a_session_past_its_absolute_lifetime(clock, app, client, alice):
    session_id = _session_id(app, alice.user_id)
    with app.app_context():
        login_session = db.session.get(LoginSession, session_id)
        login_session.expires_at = utcnow()
        db.session.commit()
    assert _refusal(client.get(ME, headers=alice.headers)) == "session expired"


# --- last_used_at --------------------------------------------------------------------------------


def _last_used_at(app, session_id: str):
    _, login_session = _orm_view(app, session_id)
    return login_session.last_used_at


def test_last_used_at_is_written_at_most_once_a_minute(clock, app, client, alice, queries):
    session_id = _session_id(app, alice.user_id)
    logged_in_at = _last_used_at(app, session_id)
    statements = []
    for seconds in (30, 29, 1, 30, 29):  # at 30, 59, 60, 90 and 119 seconds after the login
        clock.shift(seconds)
        queries.clear()
        assert client.get(ME, headers=alice.headers).status_code == 200
        statements.append(len(queries))
    assert statements == [1, 1, 2, 1, 1]
    assert (_last_used_at(app, session_id) - logged_in_at).total_seconds() == 60
    clock.shift(1)
    assert client.get(ME, headers=alice.headers).status_code == 200
    assert (_last_used_at(app, session_id) - logged_in_at).total_seconds() == 120


# --- indexes ---------------------------------------------------------------------------------


def test_every_statement_of_the_busy_paths_uses_an_index(
    clock, app, client, alice, make_token, backend
):
    """No statement of the token check (session or PAT), the notes page, login, refresh or
    the list of PATs scans a table."""
    if backend != "sqlite":
        pytest.skip("reads SQLite's query plans")
    with app.app_context():
        add_users(100)
        add_notes(alice.user_id, 100)
    pat = make_token(alice, ["notes:read"])
    with app.app_context():
        engine = db.engine
    with recording(engine) as seen:
        clock.shift(61)  # the token check writes last_used_at too
        assert client.get(ME, headers=alice.headers).status_code == 200
        assert client.get("/notes?page=2&per_page=20", headers=alice.headers).status_code == 200
        assert client.get(ME, headers=pat.headers).status_code == 200
        assert client.get("/tokens", headers=alice.headers).status_code == 200
        body = {"username": "alice", "password": PASSWORD}
        refresh_token = client.post("/login", json=body).get_json()["refresh_token"]
        assert client.post("/refresh", json={"refresh_token": refresh_token}).status_code == 200
    assert len(seen) >= 8
    indexed = 0
    with engine.connect() as connection:
        for statement in seen:  # SQLite's text, its parameters written in
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            steps = [row[-1] for row in plan]
            assert not [step for step in steps if step.startswith("SCAN")], (statement, steps)
            indexed += any("USING" in step for step in steps)
    assert indexed >= 6
