"""docs/operations.md's SQLite recipes, run as written: a backup of a live database, restored.

The backup is taken while the server serves, right after a login that only the write-ahead log
holds yet; a user created after the backup is gone once it is restored; and the restored copy,
served again with the instance folder's keys, logs the user in.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import ROOT
from support.accounts import PASSWORD
from support.loopback import call
from support.recipes import (
    Block,
    DevelopmentServer,
    copy_checkout,
    environment,
    run_block,
    shell_blocks,
)

pytestmark = pytest.mark.slow

SQLITE = shell_blocks((ROOT / "docs" / "operations.md").read_text(encoding="utf-8"), "SQLite")
BACKUPS = [block for block in SQLITE if block.heading == "Back up"]
(RESTORE,) = [block for block in SQLITE if block.heading == "Restore"]


def _manage(checkout: Path, env: dict[str, str], *args: str, stdin: str | None = None):
    done = subprocess.run(
        [".venv/bin/python", "manage.py", *args],
        cwd=checkout,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def _login(server: DevelopmentServer, username: str) -> int:
    return call(server.port, "POST", "/login", {"username": username, "password": PASSWORD}).status


def _ran(block: Block, checkout: Path, env: dict[str, str]) -> None:
    done = run_block(block, checkout, env)
    assert done.returncode == 0, f"{block.script}\n{done.stdout}\n{done.stderr}"


def test_the_recipes_are_there():
    assert len(BACKUPS) == 2  # the sqlite3 program's, and Python's for hosts without it
    assert "sqlite3 instance/tessera.db" in BACKUPS[0].script
    assert "import sqlite3" in BACKUPS[1].script


@pytest.mark.parametrize("backup", BACKUPS, ids=["sqlite3-program", "python"])
def test_a_backup_of_the_live_database_restores_and_logs_the_user_in(tmp_path, backup):
    if backup.script.count("sqlite3 instance") and shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 program is not installed (apt-get install sqlite3)")
    checkout = copy_checkout(tmp_path / "checkout")
    (tmp_path / "home").mkdir()
    env = environment(tmp_path / "home")
    _manage(checkout, env, "init-db")
    _manage(checkout, env, "users", "create", "bob", "--password-stdin", stdin=f"{PASSWORD}\n")
    database = checkout / "instance" / "tessera.db"
    with DevelopmentServer(checkout, env) as server:
        assert _login(server, "bob") == 200
        assert Path(f"{database}-wal").stat().st_size > 0  # the login is in the log
        _ran(backup, checkout, env)
        _manage(
            checkout, env, "users", "create", "carol", "--password-stdin", stdin=f"{PASSWORD}\n"
        )
    database.write_bytes(b"")  # the live database lost
    _ran(RESTORE, checkout, env)
    listed = _manage(checkout, env, "users", "list", "--json").stdout
    assert '"username": "bob"' in listed and "carol" not in listed  # carol: after the backup
    assert '"last_login_at": null' not in listed  # the login that only the log held is there
    with DevelopmentServer(checkout, env) as server:
        assert _login(server, "bob") == 200
        assert _login(server, "carol") == 401
