"""One-row lookups for the hot path: a Core SELECT compiled once, run on a pooled DBAPI cursor.

``Connection.execute`` builds a connection wrapper, a transaction, an execution context and a
``Result`` on every call: for a lookup of one row by key, several times the cost of the
statement itself. A ``RowLookup`` sends the SQL Core compiled for the engine's dialect, with
the values converted by each type's own bind and result processors (so a ``UTCDateTime`` comes
back as Core would return it), on a connection from the same pool, which checks it out (and
pings it, where configured) and takes it back as for any other use.

If the statement fails, the connection is thrown away and the statement runs again through
Core, which reconnects, or raises the error Core raises (and the app's error handlers know);
a failed connect is raised wrapped as Core wraps it.
Core's ``before_cursor_execute`` event does not see a lookup: count statements at the driver.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.exc import DBAPIError


class RowLookup:
    """``statement`` (a SELECT of at most one row) ready to run on ``engine``."""

    def __init__(self, engine: Engine, statement: Select) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.engine = engine
        self.statement = statement
        self.sql = str(compiled)
        # The order a positional paramstyle (SQLite's qmark) sends values in; None: by name.
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if dialect.positional else None
        )
        self._bind_processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._bind_processors[name] = processor
        columns = list(statement.selected_columns)
        self._result_processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self._row = namedtuple("Row", [column.key for column in columns])
        self._driver_error = dialect.loaded_dbapi.Error

    def first(self, **values: Any) -> Any | None:
        """Return the row the statement selects with ``values`` bound, or None."""
        parameters = self._parameters(values)
        try:
            connection = self.engine.raw_connection()
        except self._driver_error as error:
            # The pool passes a failed connect on as the driver raised it; wrap it as Core does.
            raise DBAPIError.instance(
                None, None, error, self._driver_error, dialect=self.engine.dialect
            ) from error
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self.sql, parameters)
                raw = cursor.fetchone()
            finally:
                cursor.close()
        except self._driver_error:
            connection.invalidate()
            return self._first_through_core(values)
        finally:
            connection.close()
        if raw is None:
            return None
        return self._row(
            *[
                value if processor is None or value is None else processor(value)
                for processor, value in zip(self._result_processors, raw, strict=True)
            ]
        )

    def _parameters(self, values: dict[str, Any]) -> tuple | dict[str, Any]:
        if self._bind_processors:
            values = {**values}
            for name, processor in self._bind_processors.items():
                values[name] = processor(values[name])
        if self._order is None:
            return values
        return tuple(values[name] for name in self._order)

    def _first_through_core(self, values: dict[str, Any]) -> Any | None:
        with self.engine.connect() as connection:
            return connection.execute(self.statement, values).first()
