"""Where a test's data lives: SQLite always; PostgreSQL and Redis when the environment says.

Every test runs on SQLite. When ``TEST_DATABASE_URL`` (PostgreSQL) and ``TEST_REDIS_URL`` are
set, every test runs on PostgreSQL and Redis as well, each in a schema and a key prefix of its
own, made here and dropped afterwards, so tests never see each other's rows or counters.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")

# The backends a test runs on, as pytest parameters.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not (TEST_DATABASE_URL and TEST_REDIS_URL),
            reason="set TEST_DATABASE_URL and TEST_REDIS_URL to run against PostgreSQL and Redis",
        ),
    ),
]


@dataclass(frozen=True)
class Backend:
    """One test's database and, on PostgreSQL, its Redis and rate-limit key prefix."""

    database_url: str
    redis_url: str | None = None
    key_prefix: str | None = None

    def config(self) -> dict[str, Any]:
        """The app settings that point an app at this backend."""
        if self.redis_url is None:
            return {"DATABASE_URL": self.database_url}
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "RATE_LIMIT_KEY_PREFIX": self.key_prefix,
        }


@contextmanager
def backend_for(backend: str, sqlite_path: Path) -> Iterator[Backend]:
    """Yield a backend of the caller's own: a SQLite file, or a PostgreSQL schema and a prefix."""
    if backend == "sqlite":
        yield Backend(f"sqlite:///{sqlite_path}")
        return
    with (
        postgresql_schema(TEST_DATABASE_URL) as database_url,
        redis_key_prefix(TEST_REDIS_URL) as prefix,
    ):
        yield Backend(database_url, TEST_REDIS_URL, prefix)


@contextmanager
def postgresql_schema(server_url: str) -> Iterator[str]:
    """Create a schema of its own; yield a URL whose connections see only it; drop it after."""
    schema = f"test_{secrets.token_hex(6)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    # In the URL, not in engine options: gunicorn and manage.py in other processes get it too.
    url = sa.make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """Yield a rate-limit key prefix of its own; delete every key that holds it afterwards."""
    prefix = f"tessera-test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
        client.close()
