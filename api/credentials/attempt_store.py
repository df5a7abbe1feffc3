"""Failed-attempt counters kept in the database: a storage for the ``limits`` library.

Every server process on every host that shares the database counts on the same rows, and a
restart forgets nothing, so no Redis is needed for exact limits. It is a ``limits`` storage
(``limits.storage.Storage``, registered as ``tessera+database://``) under the same
``FixedWindowRateLimiter`` that Redis serves, over the ``attempt_counters`` table.

Each ``incr`` is ONE statement, an upsert that starts a new window in place of an ended one
and answers the count with this attempt in: concurrent attempts each get a count of their
own, so none passes a limit. It runs on a connection of its own in autocommit, never in the
request's transaction: nothing waits between its write and its commit (on SQLite under gevent
a write waiting for a commit stops the process, ``api.event_loop``). A negative amount gives
an attempt back; it never opens a window nor takes a count below zero.

The clock is the server's (``time.time()``, the one the limits library reads), passed to each
statement. Ended windows are pruned once every ``PRUNE_EVERY`` seconds at most per process,
after a count, so the table holds about one row per counter touched in the last window.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

import sqlalchemy as sa
from limits.storage import Storage
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from api.models import AttemptCounter

SCHEME = "tessera+database"
PRUNE_EVERY = 60  # seconds
_TABLE = AttemptCounter.__table__
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _counting(insert) -> sa.Executable:
    """The upsert: a new window when there is none or it ended, else ``by`` more.

    Made once, with its values bound at each execution: building it for every attempt cost
    more than sending it."""
    amount, now = sa.bindparam("by"), sa.bindparam("now")
    ended = _TABLE.c.expires_at <= now
    statement = insert(_TABLE).values(
        key=sa.bindparam("counter"), expires_at=sa.bindparam("window_end"), count=amount
    )
    renewed = statement.excluded.expires_at
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.key],
        set_={
            "count": sa.case((ended, amount), else_=_TABLE.c.count + amount),
            "expires_at": sa.case((ended, renewed), else_=_TABLE.c.expires_at),
        },
    ).returning(_TABLE.c.count)


# Take ``by`` off a window still running that holds as many; else change nothing.
_GIVING_BACK = (
    sa.update(_TABLE)
    .where(
        _TABLE.c.key == sa.bindparam("counter"),
        _TABLE.c.expires_at > sa.bindparam("now"),
        _TABLE.c.count >= sa.bindparam("by"),
    )
    .values(count=_TABLE.c.count - sa.bindparam("by"))
    .returning(_TABLE.c.count)
)


class AttemptStore(Storage):
    """Fixed-window counters in ``attempt_counters``, on ``engine``."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, *, engine: Engine
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.engine = engine
        self._counting = _counting(_INSERTS[engine.dialect.name])
        self._prune_after = time.time() + PRUNE_EVERY

    @property
    def base_exceptions(self) -> type[Exception]:
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to the key's count in one statement; return the count now."""
        now = time.time()
        if amount < 0:
            return self._give_back(key, -amount, now)
        values = {"counter": key, "by": amount, "now": now, "window_end": now + expiry}
        with self._connection() as connection:
            count = connection.execute(self._counting, values).scalar_one()
            if now >= self._prune_after:
                self._prune_after = now + PRUNE_EVERY
                connection.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at <= now))
        return count

    def _give_back(self, key: str, amount: int, now: float) -> int:
        """Take ``amount`` off a window still running that holds as many; else change nothing."""
        values = {"counter": key, "by": amount, "now": now}
        with self._connection() as connection:
            return connection.execute(_GIVING_BACK, values).scalar_one_or_none() or 0

    def get(self, key: str) -> int:
        """Return the key's count in its running window (0 when none runs)."""
        return int(self._running(key, _TABLE.c.count) or 0)

    def get_expiry(self, key: str) -> float:
        """Return when the key's running window ends (now, when none runs)."""
        now = time.time()
        return float(self._running(key, _TABLE.c.expires_at, now) or now)

    def _running(self, key: str, column: sa.Column, now: float | None = None) -> object:
        now = time.time() if now is None else now
        query = sa.select(column).where(_TABLE.c.key == key, _TABLE.c.expires_at > now)
        with self._connection() as connection:
            return connection.execute(query).scalar_one_or_none()

    def check(self) -> bool:
        """Tell whether the table answers."""
        try:
            with self._connection() as connection:
                connection.execute(sa.select(sa.func.count()).select_from(_TABLE))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every count; return how many counters there were."""
        with self._connection() as connection:
            return connection.execute(sa.delete(_TABLE)).rowcount

    def clear(self, key: str) -> None:
        """Forget the key's count."""
        with self._connection() as connection:
            connection.execute(sa.delete(_TABLE).where(_TABLE.c.key == key))

    def prune(self, now: float | None = None) -> int:
        """Delete the windows that ended by ``now``; return how many."""
        now = time.time() if now is None else now
        with self._connection() as connection:
            return connection.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at <= now)).rowcount

    def _connection(self) -> AbstractContextManager[sa.Connection]:
        """A pooled connection of its own, its statements committed as the block ends.

        PostgreSQL in autocommit: one round trip a statement. SQLite in a transaction of
        its own (pysqlite's autocommit would cost a PRAGMA on each checkout and checkin).
        """
        if self.engine.dialect.name == "sqlite":
            return self.engine.begin()
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
