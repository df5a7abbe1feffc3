"""Alembic environment: migrate the database of the Flask app in whose context this runs."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import context
from flask import current_app

from api.models import UTCDateTime
from api.schema import MIGRATION_LOCK

log = logging.getLogger("alembic.env")
config = context.config
# No fileConfig(): it would replace the logging of the program that runs the migrations.


def render_item(type_: str, obj, autogen_context):
    """Spell the models' UTCDateTime as the plain type it is in the database."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    """Write the SQL of the migrations instead of running it (``db upgrade --sql``)."""
    migrate = current_app.extensions["migrate"]
    context.configure(
        url=migrate.db.engine.url.render_as_string(hide_password=False),
        target_metadata=migrate.db.metadata,
        literal_binds=True,
        render_item=render_item,
        **migrate.configure_args,
    )
    with context.begin_transaction():
        context.run_migrations()


def skip_empty_revisions(context, revision, directives) -> None:
    """Write no revision file when autogenerate finds nothing to change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def run_migrations_online() -> None:
    """Run the migrations on the app's own engine (its pool, options and search_path)."""
    migrate = current_app.extensions["migrate"]
    options = {
        "process_revision_directives": skip_empty_revisions,
        "render_item": render_item,
        **migrate.configure_args,
    }
    with migrate.db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration on SQLite copies a table and drops the old one; with foreign
            # keys on, that drop would cascade into every row that points at the table.
            _set_sqlite_foreign_keys(connection, "OFF")
        context.configure(connection=connection, target_metadata=migrate.db.metadata, **options)
        try:
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                context.run_migrations()
        finally:
            if sqlite:
                _set_sqlite_foreign_keys(connection, "ON")


def _set_sqlite_foreign_keys(connection, state: str) -> None:
    # The pragma is ignored inside a transaction: run it alone, then end SQLAlchemy's.
    connection.exec_driver_sql(f"PRAGMA foreign_keys={state}")
    connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
