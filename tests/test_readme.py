"""The README's walkthrough, pasted as a reader would: every block runs, and answers as it says.

A copy of the working tree serves with ``manage.py run`` (what ``make run`` runs) on a free
port, which the blocks read from ``API``, started as the README says to serve each section:
plain ``make run``, or, for the mailed tokens, with open sign-up and its terminal kept in
``instance/run.log``. Each block then runs on its own, in a fresh ``bash -euo pipefail``
(``support.recipes``), so one that uses a variable it does not set, or a command that fails,
fails here. Every request a block makes must succeed but for the refusals the README shows
(``GET /me`` after the logout, the login that asks for a second factor, the old password
after a reset), and a few answers are read: the login's token works, ``/me`` names the user.
Whatever the blocks leave in the checkout, git ignores.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT
from support.recipes import (
    Answer,
    DevelopmentServer,
    copy_checkout,
    environment,
    run_block,
    shell_blocks,
)

pytestmark = pytest.mark.slow


def _answered(answers: list[Answer], method: str, path: str) -> list[int]:
    return [a.status for a in answers if a.method == method and re.fullmatch(path, a.path)]


def _json_lines(stdout: str) -> list[dict]:
    """The lines of ``stdout`` that are JSON objects, parsed."""
    found = []
    for line in stdout.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [value for value in found if isinstance(value, dict)]


def _json_field(name: str, value: str) -> str:
    """A pattern of ``"name": value`` as the API writes it, spaced or compact."""
    return rf'"{name}":\s*{value}'


def _walkthrough(stdout: str, answers: list[Answer]) -> None:
    tables = [line.split() for line in stdout.splitlines()]
    header = [
        "id",
        "username",
        "is_admin",
        "email",
        "is_active",
        "mfa_enabled",
        "created_at",
        "last_login_at",
    ]
    assert header in tables  # users list
    assert [row[1] for row in tables if row[:1] in (["1"], ["2"])] == ["alice", "bob"]
    pair = next(answer for answer in _json_lines(stdout) if "access_token" in answer)
    assert pair["access_token"].startswith("at.") and pair["token_type"] == "Bearer"
    assert re.search(_json_field("username", '"bob"'), stdout)  # GET /me, with that token
    assert _answered(answers, "GET", "/me") == [200, 401]  # before and after the logout
    assert _answered(answers, "POST", "/refresh") == [200]
    assert _answered(answers, "DELETE", r"/notes/\d+") == [204]


def _second_factor(stdout: str, answers: list[Answer]) -> None:
    assert re.search(_json_field("recovery_codes", r"\["), stdout)
    assert re.search(_json_field("totp", "true"), stdout)
    assert re.search(_json_field("recovery_codes_left", "10"), stdout)
    assert _answered(answers, "POST", "/login") == [200, 401]  # then with TOTP on
    assert _answered(answers, "POST", "/login/mfa") == [200]
    assert _answered(answers, "POST", "/reauthenticate") == [200]
    assert _answered(answers, "DELETE", "/mfa/totp") == [204]


def _tokens_and_trail(stdout: str, answers: list[Answer]) -> None:
    assert _answered(answers, "POST", "/tokens") == [201]
    assert _answered(answers, "GET", "/notes") == [200]  # with the PAT
    assert _answered(answers, "DELETE", r"/tokens/\d+") == [204]
    assert _answered(answers, "GET", r"/audit\?user_id=\d+&since=.+") == [200]
    trail = json.JSONDecoder().raw_decode(stdout[stdout.rindex('{"items"') :])[0]
    assert trail["items"] and {event["user_id"] for event in trail["items"]} == {2}


def _accounts_by_email(stdout: str, answers: list[Answer]) -> None:
    assert _answered(answers, "POST", "/signup") == [202]
    assert _answered(answers, "POST", "/signup/verify") == [201]  # the account exists
    assert re.search(_json_field("username", '"carol"'), stdout)  # its record
    assert _answered(answers, "POST", "/password/forgot") == [202]
    assert _answered(answers, "POST", "/password/reset") == [204]
    # Before the reset, after it with the old password, then with the new one
    assert _answered(answers, "POST", "/login") == [200, 401, 200]
    pair = _json_lines(stdout)[-1]
    assert pair["access_token"].startswith("at.") and pair["token_type"] == "Bearer"


def _passkeys(stdout: str, answers: list[Answer]) -> None:
    assert _answered(answers, "POST", "/passkeys/register/options") == [200]
    assert _answered(answers, "POST", "/passkeys") == [201]
    assert _answered(answers, "POST", "/login/passkey/options") == [200]
    assert _answered(answers, "POST", "/login/passkey") == [200]
    assert _answered(answers, "GET", "/me") == [200]  # with the passkey login's access token
    assert re.search(_json_field("username", '"bob"'), stdout)


@dataclass(frozen=True)
class Serving:
    """How the README has the reader serve: ``command``, with ``settings`` on top of what
    ``make run`` sets, and its terminal kept in ``log`` (a path in the checkout) if named."""

    command: str
    settings: tuple[tuple[str, str], ...] = ()
    log: str | None = None


MAKE_RUN = Serving("make run")
OPEN_SIGNUP = Serving(
    "SIGNUP_POLICY=open make run 2>&1 | tee instance/run.log",
    (("SIGNUP_POLICY", "open"),),
    "instance/run.log",
)


@dataclass(frozen=True)
class Expected:
    refused: list[tuple[str, str, int]]  # the only answers of 400 or more
    check: Callable[[str, list[Answer]], None]
    serving: Serving = MAKE_RUN


EXPECTED = {
    "Walkthrough": Expected([("GET", "/me", 401)], _walkthrough),
    "A second factor: TOTP with an authenticator app": Expected(
        [("POST", "/login", 401)], _second_factor
    ),
    "Personal access tokens and the security log": Expected([], _tokens_and_trail),
    "Accounts by email": Expected([("POST", "/login", 401)], _accounts_by_email, OPEN_SIGNUP),
    # The server the section before started serves on: any would do.
    "Passkeys": Expected([], _passkeys, OPEN_SIGNUP),
}


def _files(root: Path) -> set[str]:
    """The files under ``root``, as paths relative to it (``.venv`` is a link, not walked)."""
    return {
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    }


def _not_ignored(paths: set[str]) -> list[str]:
    """The ``paths`` git would not ignore in the checkout."""
    checked = subprocess.run(
        ["git", "check-ignore", "--stdin", "-z"],
        cwd=ROOT,
        input="\0".join(sorted(paths)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode in (0, 1), checked.stderr  # 1: none ignored
    return sorted(paths - set(checked.stdout.split("\0")))


def test_the_walkthrough_runs_block_by_block_as_pasted(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    (tmp_path / "home").mkdir()
    env = environment(tmp_path / "home")
    readme = (checkout / "README.md").read_text(encoding="utf-8")
    blocks = shell_blocks(readme, "Walkthrough")
    assert [block.heading for block in blocks] == list(EXPECTED)
    for serving in {expected.serving for expected in EXPECTED.values()}:
        assert f"`{serving.command}`" in readme  # what the reader is told to run
    before = _files(checkout)
    init = subprocess.run(
        [".venv/bin/python", "manage.py", "init-db"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    # A section served otherwise has the reader stop the server and start it anew.
    for serving, section in itertools.groupby(blocks, lambda b: EXPECTED[b.heading].serving):
        log = checkout / serving.log if serving.log else None
        with DevelopmentServer(checkout, {**env, **dict(serving.settings)}, log) as server:
            for block in section:
                ran = run_block(block, checkout, {**env, "API": server.url})
                answers = server.answers()
                assert ran.returncode == 0, f"{block.heading}:\n{ran.stdout}\n{ran.stderr}"
                refused = [(a.method, a.path, a.status) for a in answers if a.status >= 400]
                assert refused == EXPECTED[block.heading].refused, block.heading
                EXPECTED[block.heading].check(ran.stdout, answers)
    assert (checkout / "instance" / "tessera.db").exists()  # the copy's, not the checkout's
    left = _files(checkout) - before
    assert {"instance/run.log", "instance/bob.passkey"} <= left
    assert _not_ignored(left) == []
    assert (checkout / "instance" / "bob.passkey").stat().st_mode & 0o077 == 0  # a private key
