"""The database connection: engine settings per backend, and creating the schema."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db


def engine_options(url: str, configured: dict[str, Any]) -> dict[str, Any]:
    """Return engine options suited to the backend of ``url``; configured ones win."""
    if url.startswith("sqlite"):
        # timeout: how long a writer waits for another to commit (SQLite's busy timeout).
        options: dict[str, Any] = {"connect_args": {"timeout": 15}}
    else:
        # pre_ping: a connection the server dropped (restart, failover) is replaced, not used;
        # connect_timeout: an unreachable server costs a request 5 s, never a hung worker.
        options = {
            "pool_pre_ping": True,
            "pool_size": 5,
            "max_overflow": 10,
            "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 5},
        }
    return {**options, **configured}


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # WAL lets readers work beside a writer; foreign keys make ON DELETE CASCADE work.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def init_app(app: Flask) -> None:
    """Bind SQLAlchemy to the app with per-backend engine options."""
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    db.init_app(app)
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)


def create_schema() -> None:
    """Create the tables that do not exist yet."""
    db.create_all()
