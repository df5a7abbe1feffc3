"""What both production servers' settings share (``api/serving.py``), and what each promises
alike at start: a setting the app cannot use stops it in one line."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from api import serving

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
START_COMMANDS = {
    "gunicorn": [GUNICORN, "-c", "gunicorn.conf.py", "-b", "127.0.0.1:0", "api:create_app()"],
    "granian": [sys.executable, "-m", "api.granian_settings", "--bind", "127.0.0.1:0"],
}


@pytest.mark.parametrize("server", START_COMMANDS)
def test_a_server_with_a_bad_setting_exits_with_one_line(server, tmp_path):
    environment = {**os.environ, "LOGIN_RATE_LIMIT": "lots", "TESSERA_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        START_COMMANDS[server],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == 'error: LOGIN_RATE_LIMIT must be a rate such as "10 per minute"\n'
    assert result.stdout == ""


def test_workers_default_to_one_per_cpu_unless_web_concurrency_says(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert serving.default_workers() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert serving.default_workers() == 3


@pytest.mark.parametrize(
    ("soft", "hard", "raised"),
    [
        (1024, 4096, 2024),  # room for 1,000 connections and the files beside them
        (1024, 1500, 1500),  # as far as the hard limit allows
        (1024, resource.RLIM_INFINITY, 2024),
        (65536, 65536, None),  # never lowered
    ],
)
def test_the_open_files_limit_is_raised_for_every_connection(monkeypatch, soft, hard, raised):
    limits = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (soft, hard))
    monkeypatch.setattr(resource, "setrlimit", lambda which, pair: limits.append(pair))
    in_force = serving.raise_open_files_limit(1000)
    assert limits == ([] if raised is None else [(raised, hard)])
    assert in_force == (raised or soft)


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("/notes/1\r\n127.0.0.1 - forged", "/notes/1\\x0d\\x0a127.0.0.1 - forged"),
        ('agent" injected="1', "agent\\x22 injected=\\x221"),
        ("\x85next-line\x00", "\\x85next-line\\x00"),
        ("plain/path", "plain/path"),
    ],
)
def test_access_log_values_cannot_start_a_new_line_or_close_a_quote(raw, logged):
    assert serving.escape_log_value(raw) == logged
