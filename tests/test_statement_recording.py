"""The statement recorder the counting tests rely on (``support.statements``).

It must see what a raw DBAPI cursor sends, where Core's ``before_cursor_execute`` does not;
count neither transaction control nor the pool's pre-ping; and record nothing once its block
has ended, on connections still out included.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.statements import StatementRecorder, is_transaction_control, recording

from api import create_app
from api.database import db

# No user has id 0: the statement changes nothing, but it is a write (pysqlite sends BEGIN).
TOUCH = "UPDATE users SET is_active = is_active WHERE id = 0"


def _engine(app) -> sa.Engine:
    with app.app_context():
        return db.engine


def _run_raw(engine: sa.Engine, statement: str) -> None:
    """Run ``statement`` on a raw DBAPI cursor of a pooled connection, and commit it."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(statement)
        cursor.close()
        connection.commit()
    finally:
        connection.close()


def test_a_statement_on_a_raw_cursor_is_recorded_where_core_sees_none(app):
    engine = _engine(app)
    core: list[str] = []

    def core_saw(conn, cursor, statement, *args) -> None:
        core.append(statement)

    sa.event.listen(engine, "before_cursor_execute", core_saw)
    try:
        with recording(engine) as statements:
            _run_raw(engine, TOUCH)
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT count(*) FROM users"))
    finally:
        sa.event.remove(engine, "before_cursor_execute", core_saw)
    assert core == ["SELECT count(*) FROM users"]
    assert statements == [TOUCH, "SELECT count(*) FROM users"]


def test_transaction_control_is_not_recorded(app):
    engine = _engine(app)
    core: list[str] = []

    def core_saw(conn, cursor, statement, *args) -> None:
        core.append(statement.split()[0])

    sa.event.listen(engine, "before_cursor_execute", core_saw)
    try:
        with recording(engine) as statements:
            with engine.begin() as connection, connection.begin_nested():
                connection.execute(sa.text(TOUCH))
            _run_raw(engine, TOUCH)  # on SQLite, pysqlite's own BEGIN and COMMIT around it
    finally:
        sa.event.remove(engine, "before_cursor_execute", core_saw)
    assert core == ["SAVEPOINT", "UPDATE", "RELEASE"]  # they were sent
    assert statements == [TOUCH, TOUCH]


@pytest.mark.parametrize(
    ("statement", "control"),
    [
        ("BEGIN ", True),
        ("begin deferred", True),
        ("COMMIT", True),
        ("END TRANSACTION", True),
        ("ROLLBACK", True),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_1", True),
        ("SAVEPOINT sa_savepoint_1", True),
        ("  RELEASE SAVEPOINT sa_savepoint_1", True),
        ("SELECT 1", False),
        ("UPDATE commits SET x = 1", False),
        ("BEGINNING", False),
        ("", False),
    ],
)
def test_transaction_control_is_told_by_its_first_word(statement, control):
    assert is_transaction_control(statement) is control


def test_nothing_is_recorded_after_the_block(app):
    engine = _engine(app)
    with recording(engine) as statements:
        kept = engine.raw_connection()  # still out when the block ends
        cursor = kept.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    try:
        cursor = kept.cursor()
        cursor.execute("SELECT 2")
        cursor.close()
        kept.commit()
    finally:
        kept.close()
    _run_raw(engine, TOUCH)
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 3"))
    assert statements == ["SELECT 1"]


def test_a_streamed_result_is_recorded(app):
    """SQLAlchemy streams (``yield_per``) on a psycopg server-side cursor: it counts too."""
    engine = _engine(app)
    with recording(engine) as statements, engine.connect() as connection:
        streamed = connection.execution_options(stream_results=True)
        assert streamed.execute(sa.text("SELECT id FROM users")).all() == []
    assert statements == ["SELECT id FROM users"]


def test_the_pools_pre_ping_is_not_recorded(config, tmp_path, monkeypatch):
    """The pool pings a pooled connection at checkout, before the recorder is put on it: the
    checkin before took the one of the last checkout off."""
    options = {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}}  # SQLite too, here
    app = create_app({**config, **options}, instance_path=str(tmp_path / "pinging"))
    engine = _engine(app)
    try:
        pings: list[object] = []
        ping = engine.dialect.do_ping

        def counted_ping(dbapi_connection) -> bool:
            pings.append(dbapi_connection)
            return ping(dbapi_connection)

        monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
        _run_raw(engine, "SELECT 2")  # a fresh connection is not pinged; it goes to the pool
        assert pings == []
        with recording(engine) as statements:
            _run_raw(engine, "SELECT 3")  # the pooled one again, pinged first
            _run_raw(engine, "SELECT 4")  # pinged again, after a checkout that recorded
        assert len(pings) == 2  # SELECT 1 on SQLite, ";" on PostgreSQL
        assert statements == ["SELECT 3", "SELECT 4"]
    finally:
        engine.dispose()


def test_a_connection_already_out_or_a_second_recorder_is_refused(app):
    engine = _engine(app)
    out = engine.raw_connection()
    try:
        with pytest.raises(RuntimeError, match="checked out before recording"):
            StatementRecorder(engine, print).start()
    finally:
        out.close()
    with recording(engine), pytest.raises(RuntimeError, match="already on this engine"):
        StatementRecorder(engine, print).start()
    with recording(engine) as statements:  # the refused ones left nothing behind
        _run_raw(engine, TOUCH)
    assert statements == [TOUCH]
