"""``RowLookup``: the loader's one SELECT on a pooled DBAPI cursor, answering as Core does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.seeding import add_users
from support.statements import recording

from api.database import db
from api.models import LoginSession, User
from api.security.row_lookup import RowLookup

USERS = User.__table__
SESSIONS = LoginSession.__table__
# Every kind of column the loader reads: integers, strings, booleans, UTC timestamps (one of
# them None until the session is used), and a computed boolean.
SESSION_WITH_USER = (
    sa.select(
        USERS.c.id,
        USERS.c.username,
        USERS.c.is_admin,
        USERS.c.created_at,
        SESSIONS.c.expires_at,
        SESSIONS.c.revoked_at,
        SESSIONS.c.authenticated_at,
        USERS.c.totp_secret.is_not(None).label("mfa_enabled"),
    )
    .select_from(SESSIONS.join(USERS, USERS.c.id == SESSIONS.c.user_id))
    .where(SESSIONS.c.id == sa.bindparam("row_id"))
)


def _engine(app) -> sa.Engine:
    with app.app_context():
        return db.engine


def _session_id(engine: sa.Engine, user_id: int) -> str:
    with engine.connect() as connection:
        query = sa.select(SESSIONS.c.id).where(SESSIONS.c.user_id == user_id)
        return connection.execute(query).scalar_one()


def _through_core(engine: sa.Engine, row_id: str):
    with engine.connect() as connection:
        return connection.execute(SESSION_WITH_USER, {"row_id": row_id}).first()


def test_a_lookup_returns_what_core_returns_value_for_value_and_type(app, alice):
    engine = _engine(app)
    session_id = _session_id(engine, alice.user_id)
    row = RowLookup(engine, SESSION_WITH_USER).first(row_id=session_id)
    expected = _through_core(engine, session_id)
    assert tuple(row) == tuple(expected)
    assert [type(value) for value in row] == [type(value) for value in expected]
    assert row.created_at.tzinfo is not None and row.revoked_at is None
    assert row.username == "alice" and row.mfa_enabled is False


def test_a_lookup_of_a_missing_row_is_none(app, alice):
    lookup = RowLookup(_engine(app), SESSION_WITH_USER)
    assert lookup.first(row_id="no-such-session") is None


def test_a_lookup_sends_one_statement_and_gives_its_connection_back(app, alice):
    engine = _engine(app)
    with app.app_context():
        add_users(10)
    lookup = RowLookup(engine, SESSION_WITH_USER)
    session_id = _session_id(engine, alice.user_id)
    checked_out = engine.pool.checkedout()
    with recording(engine) as statements:
        for _ in range(3):
            assert lookup.first(row_id=session_id) is not None
    assert len(statements) == 3
    assert engine.pool.checkedout() == checked_out


def test_a_failing_lookup_raises_what_core_raises(app, alice):
    engine = _engine(app)
    missing_table = sa.table("no_such_table", sa.column("id"))
    query = sa.select(missing_table.c.id).where(missing_table.c.id == sa.bindparam("row_id"))
    lookup = RowLookup(engine, query)
    with pytest.raises(sa.exc.DBAPIError) as raised:
        lookup.first(row_id=1)
    with pytest.raises(type(raised.value)), engine.connect() as connection:
        connection.execute(query, {"row_id": 1}).first()
    # The connection that failed was thrown away; the next lookup works as before.
    session_id = _session_id(engine, alice.user_id)
    assert RowLookup(engine, SESSION_WITH_USER).first(row_id=session_id) is not None


def test_a_failed_connect_raises_core_s_error_not_the_driver_s(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'tessera.db'}")
    lookup = RowLookup(engine, SESSION_WITH_USER)
    with pytest.raises(sa.exc.OperationalError):
        lookup.first(row_id="any")
    engine.dispose()


@pytest.mark.parametrize("pre_ping", [True, False])
def test_a_connection_the_server_ended_costs_the_lookup_nothing(app, alice, backend, pre_ping):
    if backend != "postgresql":
        pytest.skip("a SQLite connection has no server to end it")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    # With the pre-ping the pool replaces the dead connection; without it, the statement
    # fails on it, and the lookup runs it again through Core on a new one.
    engine = sa.create_engine(url, pool_pre_ping=pre_ping, pool_size=1, max_overflow=0)
    session_id = _session_id(engine, alice.user_id)
    lookup = RowLookup(engine, SESSION_WITH_USER)
    assert lookup.first(row_id=session_id) is not None
    with engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        ended = connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        assert ended.scalar_one() is True
    admin.dispose()
    row = lookup.first(row_id=session_id)
    assert row is not None and row.username == "alice"
    engine.dispose()
