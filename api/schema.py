"""The schema's version: upgrading a database to the newest migration, for ``init-db``.

A database that an older ``init-db`` made with ``create_all()`` has Tessera's tables but no
``alembic_version``. Its schema is exactly the first migration's, so it is adopted (stamped
at that revision) and then upgraded like any other. A database holding only some of those
tables, or other columns, is something else: it is refused rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

from .extensions import db

BASELINE_REVISION = "0001"
# Any constant will do: PostgreSQL serializes everyone who takes this advisory lock, so
# hosts running init-db at the same moment upgrade one after the other, never together.
MIGRATION_LOCK = 0x7E55E2A
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


class SchemaError(Exception):
    """The database holds a schema init-db cannot vouch for; the message says what."""


@dataclass(frozen=True)
class SchemaUpgrade:
    before: str | None  # None: the database had no version
    after: str
    adopted: bool  # an unversioned create_all() schema was stamped first


def _alembic_config():
    return current_app.extensions["migrate"].migrate.get_config()


def current_revision() -> str | None:
    """Return the database's migration revision, or None if it has none."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """Return the newest migration's revision."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


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
