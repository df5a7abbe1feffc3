"""The database: SQLAlchemy, engine settings per backend, and the schema's migrations.

``init-db`` brings a database to the newest migration. A database that an older ``init-db``
made with ``create_all()`` has Tessera's tables but no ``alembic_version``: its schema is
exactly the first migration's, so it is adopted (stamped at that revision) and then upgraded
like any other. A database holding only some of those tables, or other columns, is refused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as UnknownRevision
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase

# Constraint names spelled the way PostgreSQL names them by default, so a database an older
# create_all made matches the migrations, and SQLite's batch migrations can name a constraint.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}
# Inside the package, so an installed Tessera finds them wherever it runs.
MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent / "migrations"
BASELINE_REVISION = "0001"
# Any constant will do: PostgreSQL serializes everyone who takes this advisory lock, so
# hosts running init-db at the same moment upgrade one after the other, never together.
MIGRATION_LOCK = 0x7E55E2A
# Where an app remembers that its database's schema was found ready (``schema_problem``).
SCHEMA_READY = "tessera.schema_ready"
# PostgreSQL's undefined_table and undefined_column; SQLite says it in words.
UNDEFINED_OBJECT_STATES = {"42P01", "42703"}
SQLITE_MISSING_OBJECT = ("no such table", "no such column", "has no column named")
# The tables and columns create_all() made before migrations existed.
BASELINE_TABLES = {
    "users": {
        "id",
        "username",
        "username_key",
        "password_hash",
        "is_admin",
        "is_active",
        "created_at",
        "last_login_at",
    },
    "login_sessions": {
        "id",
        "user_id",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "user_agent",
        "refresh_generation",
    },
    "notes": {"id", "owner_id", "title", "body", "created_at", "updated_at"},
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Flask-SQLAlchemy keeps each app's engines in that app's ``extensions``: one object serves
# any number of apps in a process.
db = SQLAlchemy(model_class=Base)


class SchemaError(Exception):
    """The database holds a schema init-db cannot vouch for; the message says what."""


@dataclass(frozen=True)
class SchemaUpgrade:
    before: str | None  # None: the database had no version
    after: str
    adopted: bool  # an unversioned create_all() schema was stamped first


# Connections each process keeps open: more than gunicorn's eight threads, so a busy worker
# never opens and closes a connection per request (QueuePool closes what it cannot keep).
POOL_SIZE = 10


def engine_options(
    url: str, configured: dict[str, Any], prepare_threshold: int | None = 5
) -> dict[str, Any]:
    """Return engine options suited to the backend of ``url``; configured ones win."""
    if url.startswith("sqlite"):
        # timeout: how long a writer waits for another to commit (SQLite's busy timeout).
        options: dict[str, Any] = {"connect_args": {"timeout": 15}}
        if make_url(url).database not in (None, "", ":memory:"):  # in memory: one connection
            options["pool_size"] = POOL_SIZE
    else:
        # pre_ping: a connection the server dropped (restart, failover) is replaced, not used;
        # connect_timeout: an unreachable server costs a request 5 s, never a hung worker.
        options = {
            "pool_pre_ping": True,
            "pool_size": POOL_SIZE,
            "max_overflow": 10,
            "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 5},
        }
    options = {**options, **configured}
    if make_url(url).drivername == "postgresql+psycopg":
        # None: psycopg never prepares a statement on the server, which PgBouncer in
        # transaction mode (before 1.21) would hand to a connection that never saw it.
        connect_args = options.get("connect_args", {})
        options["connect_args"] = {"prepare_threshold": prepare_threshold, **connect_args}
    return options


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # WAL lets readers work beside a writer; foreign keys make ON DELETE CASCADE work.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _create_private_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only, before SQLite does.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions, so they are
    owner-only too. An existing file keeps the permissions it has.
    """
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class DatabaseURLError(RuntimeError):
    """``DATABASE_URL`` names no database this installation can open; the message says why."""


def init_app(app: Flask) -> None:
    """Bind SQLAlchemy and the migrations to the app, with per-backend engine options."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
            url, app.config["SQLALCHEMY_ENGINE_OPTIONS"], app.config["DATABASE_PREPARE_THRESHOLD"]
        )
        db.init_app(app)  # makes the engine: parses the URL and imports the driver
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseURLError(_unusable_url(url, exc)) from None
    Migrate(app, db, directory=str(MIGRATIONS_DIRECTORY), render_as_batch=True)
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            _create_private_file(url)
            sa.event.listen(engine, "connect", _sqlite_pragmas)


def _unusable_url(url: str, error: Exception) -> str:
    """Say why ``url`` cannot be used, without repeating it (it may hold a password)."""
    supported = "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/NAME"
    scheme = url.partition(":")[0]
    if isinstance(error, ImportError):
        return f"DATABASE_URL needs a driver that is not installed ({scheme}): {supported}"
    if isinstance(error, sa.exc.NoSuchModuleError):
        return f"DATABASE_URL names an unknown kind of database ({scheme}): {supported}"
    return f"DATABASE_URL is not a database URL: {supported}"


def create_schema() -> None:
    """Create the tables and stamp them as the newest revision (tests; init-db migrates)."""
    db.create_all()
    script = ScriptDirectory.from_config(_alembic_config())
    with db.engine.begin() as connection:
        MigrationContext.configure(connection).stamp(script, "head")


def _alembic_config():
    return current_app.extensions["migrate"].migrate.get_config()


def current_revision() -> str | None:
    """Return the database's migration revision, or None if it has none."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """Return the newest migration's revision."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def schema_problem() -> str | None:
    """Say what keeps the database's schema from serving this code, or None if nothing does.

    Ready means at this code's newest revision, or at one it does not know: a newer release
    ran init-db first, and its migrations keep the older code working. Once ready, the app
    remembers it and asks the database no more.
    """
    if current_app.extensions.get(SCHEMA_READY):
        return None
    revision = current_revision()
    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    if revision is None:
        if sa.inspect(db.engine).has_table("users"):
            return "the database schema has no version"
        return "the database has no schema yet"
    if revision != head and _known(script, revision):
        return f"the database schema is at revision {revision}, older than {head}"
    current_app.extensions[SCHEMA_READY] = True
    return None


def forget_schema_ready() -> None:
    """Make the next ``schema_problem()`` ask the database again (a table went missing)."""
    current_app.extensions.pop(SCHEMA_READY, None)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except UnknownRevision:
        return False


def is_missing_schema_error(error: Exception) -> bool:
    """Tell whether a database error says a table or column the code uses does not exist."""
    cause = getattr(error, "orig", None)
    if getattr(cause, "sqlstate", None) in UNDEFINED_OBJECT_STATES:
        return True
    return isinstance(cause, sqlite3.OperationalError) and any(
        words in str(cause) for words in SQLITE_MISSING_OBJECT
    )


def _unversioned_baseline() -> bool:
    """Tell whether the database holds create_all()'s tables and no version; refuse a mix."""
    inspector = sa.inspect(db.engine)
    tables = set(inspector.get_table_names())
    if "alembic_version" in tables:
        return False
    present = tables & BASELINE_TABLES.keys()
    if not present:
        return False
    if present != BASELINE_TABLES.keys():
        missing = ", ".join(sorted(BASELINE_TABLES.keys() - present))
        raise SchemaError(f"the database has some of Tessera's tables but not {missing}")
    for table, columns in BASELINE_TABLES.items():
        found = {column["name"] for column in inspector.get_columns(table)}
        if found != columns:
            raise SchemaError(
                f"table {table!r} has columns {sorted(found)}, not those Tessera made"
            )
    return True


def upgrade_schema() -> SchemaUpgrade:
    """Bring the database to the newest migration; safe to run again and again."""
    before = current_revision()
    adopted = before is None and _unversioned_baseline()
    config = _alembic_config()
    if adopted:
        command.stamp(config, BASELINE_REVISION)
    command.upgrade(config, "head")
    return SchemaUpgrade(before, current_revision() or "", adopted)
