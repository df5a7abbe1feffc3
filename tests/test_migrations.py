"""Migrations: ``init-db`` builds exactly the models' schema, and is safe to run again."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from support import ROOT
from support.accounts import PASSWORD
from support.backends import TEST_DATABASE_URL
from support.servers import deployment_for

from api import create_app
from api.config import describe_instance
from api.credentials import passwords
from api.database import BASELINE_REVISION, MIGRATION_LOCK, MIGRATIONS_DIRECTORY, db, head_revision
from api.models import Note, User
from api.origin import CLI
from api.services import accounts, notes


@pytest.fixture
def bare_app(config, tmp_path):
    """An app whose database has no tables yet (the ``app`` fixture creates them)."""
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def init_db(bare_app):
    runner = bare_app.test_cli_runner()

    def run():
        return runner.invoke(args=["init-db"])

    return run


def schema_differences(app) -> list:
    """What autogenerate would change to make the database match the models."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def tables(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_migrations_build_exactly_the_models_schema(bare_app, init_db):
    result = init_db()
    assert result.exit_code == 0, result.output
    assert tables(bare_app) == {"alembic_version", *db.metadata.tables}
    assert schema_differences(bare_app) == []


def test_init_db_upgrades_to_the_newest_revision_and_is_safe_to_run_again(bare_app, init_db):
    with bare_app.app_context():
        head = head_revision()
    where = describe_instance(bare_app)
    first = init_db()
    assert first.exit_code == 0
    assert first.output.strip() == f"{where}\ndatabase ready: schema upgraded to revision {head}"
    with bare_app.app_context():
        accounts.create_user("alice", PASSWORD, origin=CLI)
    again = init_db()
    assert again.exit_code == 0
    assert again.output.strip() == f"{where}\ndatabase ready: schema already at revision {head}"
    assert (
        bare_app.test_client()
        .post("/login", json={"username": "alice", "password": PASSWORD})
        .status_code
        == 200
    )


def test_init_db_adopts_a_database_an_older_create_all_made(bare_app, init_db):
    with bare_app.app_context():
        # What create_all() made then: the baseline revision's tables, with no version table.
        command.upgrade(bare_app.extensions["migrate"].migrate.get_config(), BASELINE_REVISION)
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE alembic_version"))
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, username, username_key, password_hash, is_admin,"
                    " is_active, created_at) VALUES (1, 'alice', 'alice', :hash, false, true,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"hash": passwords.hashing().hash(PASSWORD)},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO notes (owner_id, title, body, created_at, updated_at)"
                    " VALUES (1, 'kept', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
    result = init_db()
    assert result.exit_code == 0, result.output
    assert f"adopted the existing tables as revision {BASELINE_REVISION}" in result.output
    assert schema_differences(bare_app) == []
    client = bare_app.test_client()
    login = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    assert client.get("/notes", headers=headers).get_json()["total"] == 1  # counter backfilled


def test_init_db_refuses_a_database_with_only_some_of_the_tables(bare_app, init_db):
    with bare_app.app_context():
        db.metadata.tables["users"].create(db.engine)
    result = init_db()
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the database has some of Tessera's tables but not login_sessions, notes"
    )
    assert tables(bare_app) == {"users"}


def test_init_db_refuses_a_users_table_with_other_columns(bare_app, init_db):
    with bare_app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"))
        for table in ("login_sessions", "notes"):
            db.metadata.tables[table].create(connection)
    result = init_db()
    assert result.exit_code == 1
    assert result.stderr.startswith("error: table 'users' has columns ['id', 'name']")
    assert "alembic_version" not in tables(bare_app)


def test_every_migration_downgrades_and_upgrades_again(bare_app, init_db):
    assert init_db().exit_code == 0
    with bare_app.app_context():
        config = bare_app.extensions["migrate"].migrate.get_config()
        command.downgrade(config, "base")
    assert tables(bare_app) == {"alembic_version"}
    assert init_db().exit_code == 0
    assert schema_differences(bare_app) == []


def waiting_for_the_migration_lock(admin) -> int:
    return admin.execute(
        sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = 0 AND objid = :key"
        ),
        {"key": MIGRATION_LOCK},
    ).scalar_one()


def test_init_db_run_by_several_hosts_at_once_takes_turns(backend, tmp_path):
    if backend == "sqlite":
        pytest.skip("one host owns a SQLite file; PostgreSQL serializes init-db with a lock")
    hosts = 3
    admin_engine = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with deployment_for(backend, tmp_path) as deployment, admin_engine.connect() as admin:
        # Hold the lock while the hosts start, so that they all reach it at the same moment.
        admin.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        runs = [
            subprocess.Popen(
                [sys.executable, "manage.py", "init-db"],
                cwd=ROOT,
                env=deployment.environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(hosts)
        ]
        try:
            deadline = time.monotonic() + 30
            while waiting_for_the_migration_lock(admin) < hosts and time.monotonic() < deadline:
                if any(run.poll() is not None for run in runs):
                    break  # an init-db went ahead without waiting for the lock
                time.sleep(0.05)
            waited = waiting_for_the_migration_lock(admin)
        finally:
            admin.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        outputs = [run.communicate(timeout=60)[0] for run in runs]
        assert waited >= hosts, outputs
        assert [run.returncode for run in runs] == [0] * hosts, outputs
        newest = ScriptDirectory(str(MIGRATIONS_DIRECTORY)).get_current_head()
        assert deployment.query("SELECT version_num FROM alembic_version") == [(newest,)]
    admin_engine.dispose()


def test_downgrading_and_upgrading_keeps_every_note(bare_app, init_db):
    assert init_db().exit_code == 0
    with bare_app.app_context():
        user = accounts.create_user("alice", PASSWORD, origin=CLI)
        notes.create_note(user.id, "kept")
        config = bare_app.extensions["migrate"].migrate.get_config()
        command.downgrade(config, BASELINE_REVISION)
        command.upgrade(config, "head")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Note)) == 1
        assert db.session.get(User, user.id).note_count == 1
