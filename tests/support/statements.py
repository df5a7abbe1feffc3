"""Record every statement sent on an engine's DBAPI connections, through Core or around it.

SQLAlchemy's ``before_cursor_execute`` event sees only what Core's ``Connection`` executes: a
statement run on a cursor of ``engine.raw_connection()`` passes it by. So the recorder sits at
the driver instead. The pool's ``checkout`` event (which ``raw_connection()`` fires too) puts
it on each DBAPI connection the pool hands out, and its ``checkin`` event takes it off again
when the connection comes back; leaving the ``with`` block takes it off every connection still
out, and removes both listeners.

- SQLite: ``sqlite3``'s trace callback, which receives each statement with its parameters
  expanded into the text.
- PostgreSQL: the connection's psycopg ``cursor_factory`` and ``server_cursor_factory`` become
  subclasses of the cursor classes they had, which record in ``execute`` and ``executemany``.

What is recorded is the statements the app sends, as ``before_cursor_execute`` counted them:

- Not transaction control (``BEGIN``, ``COMMIT``, ``ROLLBACK``, ``SAVEPOINT``, ``RELEASE``,
  ``END``). pysqlite sends ``BEGIN`` and ``COMMIT`` by itself, which Core never saw; Core's
  own ``SAVEPOINT`` and ``RELEASE`` are left out on both backends alike, so that a count means
  the same on both (the app takes no savepoints).
- Not the pool's pre-ping (``pool_pre_ping``, on for PostgreSQL). SQLAlchemy 2.1's psycopg
  dialect pings by executing ``;`` on a cursor of the DBAPI connection (in autocommit), in the
  pool's checkout but before the ``checkout`` event fires; since the last ``checkin`` took the
  recorder off, the connection has none at that moment. A fresh connection is not pinged.
- Not what a connection sends while the pool opens it (the ``connect`` event's PRAGMAs, the
  dialect's first-connect queries): that too comes before ``checkout``.

On SQLite the trace callback fires each time SQLite starts running a statement, which differs
from Core's count in cases the counted paths avoid: ``executemany`` counts once per row; a
statement whose foreign-key actions (``ON DELETE CASCADE``, as deleting a user runs) or
triggers run is seen once more for each, with the same text; a statement SQLite refuses to
prepare (a table that does not exist) never starts, so it is not seen; nor is an ``EXPLAIN``.

A connection already checked out when recording starts would send its statements unseen, so
``recording`` refuses to start then. One recorder per engine at a time: SQLite has a single
trace callback per connection, so a second one would silence the first.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event
from sqlalchemy.pool import QueuePool

# The first word of a statement that only begins, ends or marks a transaction.
TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})

# id() of each engine a recorder is started on (the recorder holds the engine meanwhile).
_recorded_engines: set[int] = set()


def is_transaction_control(statement: str) -> bool:
    """Tell whether ``statement`` only begins, ends or marks a transaction."""
    words = statement.split(None, 1)
    return bool(words) and words[0].upper() in TRANSACTION_CONTROL


class StatementRecorder:
    """Pass each statement sent on ``engine``'s connections to ``record``, while started.

    ``recording`` is the usual way in; this class is for a caller that starts and stops it
    around its own work (the benchmark's counter).
    """

    def __init__(self, engine: Engine, record: Callable[[str], None]) -> None:
        self.engine = engine
        self.record = record
        # id() of each DBAPI connection that has a recorder on: how to take it off.
        self._installed: dict[int, Callable[[], None]] = {}
        self._cursor_classes: dict[type, type] = {}

    def __enter__(self) -> StatementRecorder:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Record from the next checkout on; refuse if a connection is out already."""
        if id(self.engine) in _recorded_engines:
            raise RuntimeError("a statement recorder is already on this engine: share its list")
        pool = self.engine.pool
        if isinstance(pool, QueuePool) and pool.checkedout():
            raise RuntimeError(
                f"{pool.checkedout()} connection(s) checked out before recording started: "
                "their statements would go unrecorded"
            )
        _recorded_engines.add(id(self.engine))
        event.listen(self.engine, "checkout", self._on_checkout)
        event.listen(self.engine, "checkin", self._on_checkin)

    def stop(self) -> None:
        """Stop recording: remove the listeners, take the recorder off every connection."""
        event.remove(self.engine, "checkout", self._on_checkout)
        event.remove(self.engine, "checkin", self._on_checkin)
        # popitem, not iteration: another thread may check a connection in meanwhile.
        while self._installed:
            _, take_off = self._installed.popitem()
            take_off()
        _recorded_engines.discard(id(self.engine))

    def _on_checkout(self, dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        self._installed[id(dbapi_connection)] = self._install(dbapi_connection)

    def _on_checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        # None when the connection was invalidated while out; ``stop`` cleans that one up.
        take_off = self._installed.pop(id(dbapi_connection), None)
        if take_off is not None:
            take_off()

    def _install(self, dbapi_connection: Any) -> Callable[[], None]:
        """Put a recorder on the connection; return how to take it off."""
        if isinstance(dbapi_connection, sqlite3.Connection):
            return self._trace_sqlite(dbapi_connection)
        if isinstance(dbapi_connection, psycopg.Connection):
            return self._record_psycopg(dbapi_connection)
        raise TypeError(f"no statement recorder for {type(dbapi_connection).__name__}")

    def _trace_sqlite(self, connection: sqlite3.Connection) -> Callable[[], None]:
        record = self.record

        def trace(statement: str) -> None:
            if not is_transaction_control(statement):
                record(statement)

        connection.set_trace_callback(trace)

        def take_off() -> None:
            # A connection closed while out (invalidated) has no callback left to remove.
            with contextlib.suppress(sqlite3.ProgrammingError):
                connection.set_trace_callback(None)

        return take_off

    def _record_psycopg(self, connection: psycopg.Connection) -> Callable[[], None]:
        # Both factories: SQLAlchemy streams results (yield_per) on a server-side cursor.
        previous = (connection.cursor_factory, connection.server_cursor_factory)
        connection.cursor_factory = self._recording_class(previous[0])
        connection.server_cursor_factory = self._recording_class(previous[1])

        def take_off() -> None:
            connection.cursor_factory, connection.server_cursor_factory = previous

        return take_off

    def _recording_class(self, base: type[psycopg.Cursor]) -> type:
        if base not in self._cursor_classes:
            self._cursor_classes[base] = _recording_cursor(base, self.record)
        return self._cursor_classes[base]


def _recording_cursor(base: type[psycopg.Cursor], record: Callable[[str], None]) -> type:
    """A subclass of the psycopg cursor class ``base`` that records what it executes."""

    def note(cursor: psycopg.Cursor, query: Any) -> None:
        text = _query_text(query, cursor)
        if not is_transaction_control(text):
            record(text)

    class RecordingCursor(base):
        # Recorded before it is sent, as before_cursor_execute did: a failing one counts too.
        def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            note(self, query)
            return super().execute(query, params, **options)

        def executemany(self, query: Any, params_seq: Iterable[Any], **options: Any) -> Any:
            note(self, query)
            return super().executemany(query, params_seq, **options)

    RecordingCursor.__name__ = RecordingCursor.__qualname__ = f"Recording{base.__name__}"
    return RecordingCursor


def _query_text(query: Any, cursor: psycopg.Cursor) -> str:
    """The text of a query psycopg accepts: str, bytes or a composed ``psycopg.sql`` query."""
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode()
    if isinstance(query, sql.Composable):
        return query.as_string(cursor)
    return str(query)


@contextmanager
def recording(*engines: Engine) -> Iterator[list[str]]:
    """Yield the list of statements sent on the engines' connections until the block ends.

    Clear the list to start counting afresh; after the block nothing more is added to it.
    """
    statements: list[str] = []
    with ExitStack() as stack:
        for engine in engines:
            stack.enter_context(StatementRecorder(engine, statements.append))
        yield statements
