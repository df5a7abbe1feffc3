"""manage.py keeps its promise: whatever fails, one ``error: ...`` line on stderr, exit 1.

No database, no schema yet, an unreachable server, a URL it cannot use, no terminal to ask on:
each is one line, never a traceback, and changes nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pty
import secrets
import select
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from support import ROOT
from support.accounts import PASSWORD
from support.backends import TEST_DATABASE_URL, backend_for
from support.hashing import CHEAP_HASHING_ENV
from support.loopback import closed_loopback_port

from api.database import BASELINE_REVISION, MIGRATIONS_DIRECTORY

INIT_DB = "run `python manage.py init-db`"
NO_SCHEMA = f"the database has no schema yet: {INIT_DB}"
SUPPORTED = "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/NAME"
COMMANDS = [
    ("users", "list"),
    ("users", "create", "alice", "--password-stdin"),
    ("users", "revoke", "alice"),
    ("users", "delete", "alice", "--yes"),
    ("sessions", "prune"),
    ("audit", "prune"),
    ("mail", "prune"),
]


def _load_manage():
    spec = importlib.util.spec_from_file_location("manage", ROOT / "manage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


manage_cli = _load_manage().cli


def environment(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        **CHEAP_HASHING_ENV,
    }


def manage(database_url: str, *args: str, input: str = f"{PASSWORD}\n"):
    """Run manage.py's command group in this process, as ``python manage.py ARGS`` would."""
    # FLASK_RUN_FROM_CLI: Flask sets it for the command; None puts back what was there.
    env = {**environment(database_url), "FLASK_RUN_FROM_CLI": None}
    return CliRunner().invoke(manage_cli, list(args), input=input, env=env)


def manage_process(database_url: str, *args: str, input: str | None = None, timeout=30):
    """Run ``python manage.py ARGS`` as a program, with no terminal."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **environment(database_url)},
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line(result, message: str) -> None:
    """Exit 1 with exactly ``error: message`` on stderr, nothing on stdout, no exception."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # nothing escaped
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""


@pytest.fixture
def empty_database(backend, tmp_path):
    """A database that answers but holds no table: init-db has not run."""
    with backend_for(backend, tmp_path / "empty.db") as place:
        yield place.database_url


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_command_on_a_database_with_no_schema_says_run_init_db(empty_database, args):
    assert_one_line(manage(empty_database, *args), NO_SCHEMA)


def test_init_db_is_the_command_that_works_on_an_empty_database(empty_database):
    assert manage(empty_database, "init-db").exit_code == 0
    created = manage(empty_database, "users", "create", "alice", "--password-stdin")
    assert created.exit_code == 0, created.output


def test_a_schema_older_than_the_code_says_run_init_db(empty_database):
    assert manage(empty_database, "db", "upgrade", BASELINE_REVISION).exit_code == 0
    result = manage(empty_database, "users", "list")
    head = ScriptDirectory(str(MIGRATIONS_DIRECTORY)).get_current_head()
    expected = f"the database schema is at revision {BASELINE_REVISION}, older than {head}"
    assert_one_line(result, f"{expected}: {INIT_DB}")


@pytest.mark.parametrize("args", [("init-db",), *COMMANDS], ids=" ".join)
def test_a_sqlite_file_in_a_missing_directory_is_one_line(tmp_path, args):
    path = tmp_path / "no such directory" / "tessera.db"
    result = manage(f"sqlite:///{path}", *args)
    assert_one_line(result, f"cannot open the SQLite database {path}: unable to open database file")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://tessera@127.0.0.1/tessera", "needs a driver that is not installed (mysql)"),
        ("nonsense://", "names an unknown kind of database (nonsense)"),
        ("not a url at all", "must be a database URL"),
    ],
)
@pytest.mark.parametrize("args", [("init-db",), ("users", "list"), ("--help",)], ids=" ".join)
def test_a_url_it_cannot_use_is_one_line(url, message, args):
    assert_one_line(manage(url, *args), f"DATABASE_URL {message}: {SUPPORTED}")


def test_a_postgresql_server_that_does_not_answer_is_one_line_within_the_connect_timeout():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_loopback_port()}/tessera"
    started = time.monotonic()
    result = manage_process(url, "users", "list")
    assert time.monotonic() - started < 5 + 10  # the connect timeout, plus the interpreter
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot reach the database: connection failed: ")
    assert "Connection refused" in line
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="set TEST_DATABASE_URL to reach PostgreSQL")
@pytest.mark.parametrize("args", [("init-db",), ("users", "list")], ids=" ".join)
def test_a_postgresql_database_that_does_not_exist_is_one_line(args):
    name = f"tessera_missing_{secrets.token_hex(4)}"
    url = sa.make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    result = manage(url, *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the database: connection failed: ")
    assert f'database "{name}" does not exist' in result.stderr
    assert result.stderr.count("\n") == 1 and isinstance(result.exception, SystemExit)


@pytest.fixture
def ready_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'ready.db'}"
    assert manage(url, "init-db").exit_code == 0
    return url


def test_users_create_with_no_terminal_says_use_password_stdin(ready_database):
    result = manage_process(ready_database, "users", "create", "alice")
    assert result.returncode == 1
    assert result.stderr == "error: no terminal to ask for the password: use --password-stdin\n"
    assert manage(ready_database, "users", "list", "--json").stdout == ""


def test_users_delete_with_no_terminal_says_use_yes(ready_database):
    manage(ready_database, "users", "create", "alice", "--password-stdin")
    result = manage_process(ready_database, "users", "delete", "alice")
    assert result.returncode == 1
    assert result.stderr == "error: no terminal to ask for confirmation: use --yes\n"
    listed = manage(ready_database, "users", "list", "--json").stdout
    assert json.loads(listed)["username"] == "alice"


def test_audit_lines_go_to_stderr_and_the_output_alone_to_stdout(ready_database):
    args = ("users", "create", "alice", "--password-stdin")
    result = manage_process(ready_database, *args, input=f"{PASSWORD}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "created user 'alice' (id 1)\n"
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert events and all(events)


def _read_until(fd: int, expected: bytes, seen: bytearray, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while expected not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"never saw {expected!r} in {bytes(seen)!r}"
        if select.select([fd], [], [], remaining)[0]:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the other side closed
                chunk = b""
            assert chunk, f"output ended before {expected!r}: {bytes(seen)!r}"
            seen += chunk


def test_users_create_at_a_terminal_asks_twice_without_echo(ready_database):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "users", "create", "alice"],
        cwd=ROOT,
        env={**os.environ, **environment(ready_database)},
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,  # no other terminal to ask on than this one
    )
    os.close(terminal)
    seen = bytearray()
    try:
        _read_until(controller, b"Password: ", seen)
        os.write(controller, f"{PASSWORD}\n".encode())
        _read_until(controller, b"Repeat for confirmation: ", seen)
        os.write(controller, f"{PASSWORD}\n".encode())
        _read_until(controller, b"created user 'alice'", seen)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(controller)
    assert PASSWORD.encode() not in seen
