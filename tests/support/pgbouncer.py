"""PgBouncer in transaction mode in front of the test PostgreSQL, for the tests that need it.

A database of its own on the server, a PgBouncer on a free loopback port, run as an
unprivileged user (it refuses root), stopped by PID afterwards. Its settings are the shipped
sample's, ``deploy/pgbouncer.ini``, with this run's database, port, files and pool filled in,
so the sample operators copy is the one the tests pass through.
"""

from __future__ import annotations

import configparser
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import psycopg
import sqlalchemy as sa

from . import ROOT
from .local_services import (
    STOP_TIMEOUT,
    _as_user,
    _die_with_parent,
    _free_port,
    _unprivileged_user,
    _wait_until,
)

# Debian installs it in /usr/sbin, which an ordinary user's PATH may lack.
PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")
SAMPLE = ROOT / "deploy" / "pgbouncer.ini"
# Few server connections for many clients, so that clients really take turns on each.
POOL_SIZE = 3


def pgbouncer_version() -> tuple[int, int] | None:
    """PgBouncer's version, or None when it is not installed."""
    if PGBOUNCER is None:
        return None
    done = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, timeout=10)
    found = re.search(r"PgBouncer (\d+)\.(\d+)", done.stdout)
    return (int(found[1]), int(found[2])) if found else None


@contextmanager
def pgbouncer_in_front_of(server_url: str, pool_size: int = POOL_SIZE) -> Iterator[str]:
    """Yield the URL of a new database on ``server_url``'s server, reached through PgBouncer."""
    server = sa.make_url(server_url)
    name = f"tessera_pgbouncer_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        with _pgbouncer(server, name, pool_size) as port:
            yield f"postgresql+psycopg://{server.username}@127.0.0.1:{port}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _pgbouncer(server: sa.URL, database: str, pool_size: int) -> Iterator[int]:
    directory = Path(tempfile.mkdtemp(prefix="tessera-pgbouncer-"))
    user = _unprivileged_user() if os.geteuid() == 0 else None
    port = _free_port()
    ini, log = directory / "pgbouncer.ini", directory / "pgbouncer.log"
    (directory / "userlist.txt").write_text(f'"{server.username}" ""\n')
    with open(ini, "w") as file:
        sample_settings(server, database, port, directory / "userlist.txt", pool_size).write(file)
    if user is not None:
        for path in (directory, ini, directory / "userlist.txt"):
            os.chown(path, user.pw_uid, user.pw_gid)
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [PGBOUNCER, str(ini)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            **_as_user(user),
        )
    try:
        probe = partial(_answers, port, server.username, database)
        _wait_until(probe, "PgBouncer", log, ("PgBouncer", process))
        yield port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # shut down now: the tests are done with it
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        shutil.rmtree(directory, ignore_errors=True)


def sample_settings(
    server: sa.URL, database: str, port: int, auth_file: Path, pool_size: int
) -> configparser.ConfigParser:
    """The sample's settings, with ``database`` on ``server`` the only database, reached on
    loopback ``port``, users trusted as ``auth_file`` lists them, and ``pool_size``."""
    settings = read_sample()
    password = f" password={server.password}" if server.password else ""
    settings["databases"] = {
        database: f"host={server.host or '127.0.0.1'} port={server.port or 5432} "
        f"dbname={database} user={server.username}{password}"
    }
    settings["pgbouncer"].update(
        listen_addr="127.0.0.1",
        listen_port=str(port),
        auth_type="trust",
        auth_file=str(auth_file),
        default_pool_size=str(pool_size),
    )
    return settings


def read_sample() -> configparser.ConfigParser:
    """``deploy/pgbouncer.ini`` as PgBouncer reads it: names as written, ``;`` comments."""
    settings = configparser.ConfigParser(
        interpolation=None, comment_prefixes=(";", "#"), inline_comment_prefixes=(";",)
    )
    settings.optionxform = str  # a database's name keeps its case
    settings.read(SAMPLE, encoding="utf-8")
    return settings


def _answers(port: int, user: str, database: str) -> str:
    with psycopg.connect(
        host="127.0.0.1", port=port, user=user, dbname=database, connect_timeout=1
    ) as connection:
        return str(connection.execute("SELECT 1").fetchone()[0])
