"""The documentation's shell recipes, run as a reader pastes them, against a development server.

A recipe runs in a copy of the working tree (its files, tracked or new, never what git ignores:
no database, no key, no instance file) beside a link to the checkout's virtual environment,
so ``.venv/bin/python manage.py ...`` runs this code on a database and keys of the copy's own.
Each block runs in a fresh ``bash -euo pipefail`` with nothing of the caller's environment but
``PATH``: a variable it uses and does not set, or a command that fails, fails the block.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import ROOT
from .local_services import _free_port, _wait_until
from .loopback import call

BLOCK_TIMEOUT = 120
STOP_TIMEOUT = 10
# A request line of the development server's log, in colour or not.
REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Block:
    """One shell block, named by the heading it sits under."""

    heading: str
    script: str


def shell_blocks(markdown: str, section: str) -> list[Block]:
    """Return the ``bash``/``sh`` blocks of the section headed ``section``."""
    return code_blocks(markdown, section, ("sh", "bash"))


def code_blocks(markdown: str, section: str, languages: tuple[str, ...]) -> list[Block]:
    """Return the blocks fenced as one of ``languages`` in the section headed ``section`` (at
    any level), each named by the nearest heading above it; the section ends at a heading of
    its level or above."""
    blocks: list[Block] = []
    heading, level = None, 0
    fence, script = None, []
    for line in markdown.splitlines():
        if fence is not None:  # inside a fence a "#" is a comment, not a heading
            if line.startswith("```"):
                if fence in languages and heading is not None:
                    blocks.append(Block(heading, "\n".join(script) + "\n"))
                fence, script = None, []
            else:
                script.append(line)
        elif line.startswith("```"):
            fence = line[3:].strip()
        elif depth := _heading_level(line):
            if heading is not None and depth <= level:
                break
            if heading is not None or line[depth:].strip() == section:
                heading, level = line[depth:].strip(), level or depth
    if heading is None:
        raise ValueError(f"no section headed {section!r}")
    return blocks


def _heading_level(line: str) -> int:
    stripped = line.lstrip("#")
    return len(line) - len(stripped) if stripped.startswith(" ") else 0


def copy_checkout(destination: Path) -> Path:
    """Copy the working tree's files, tracked or new but never ignored, into ``destination``,
    and link the checkout's ``.venv`` there; return ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    destination.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted from the working tree is listed until committed
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


def environment(home: Path, **variables: str) -> dict[str, str]:
    """An environment with no Tessera setting and no test setting: ``PATH``, a ``HOME`` of its
    own (no ``.curlrc`` of the developer's), UTF-8, and ``variables``."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", **variables}


def run_block(block: Block, checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``block`` in ``checkout`` with ``bash -euo pipefail``; never raise for its status."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.script],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int


class DevelopmentServer:
    """``manage.py run`` in a copy of the checkout, on a free loopback port, as ``make run``
    serves (mail printed on stderr unless ``env`` sets ``MAIL_URL``): its terminal, stdout and
    stderr, kept in ``log_path`` (by default a file of the copy's ``instance/``) and read back
    as the answers it gave, in order."""

    def __init__(self, checkout: Path, env: dict[str, str], log_path: Path | None = None) -> None:
        self.checkout = checkout
        self.env = {"MAIL_URL": "console:", **env}  # the Makefile's ``MAIL_URL ?= console:``
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or checkout / "instance" / f"server-{self.port}.log"
        self._read = 0
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> DevelopmentServer:
        python = str(self.checkout / ".venv" / "bin" / "python")
        command = [python, "manage.py", "run", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.checkout, env=self.env, stdout=log, stderr=log
            )
        try:
            _wait_until(self._healthy, "manage.py run", self.log_path, ("server", self.process))
        except BaseException:
            self.stop()
            raise
        self.answers()  # the probes are not the reader's
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _healthy(self) -> str:
        reply = call(self.port, "GET", "/health", timeout=1)
        if reply.status != 200:
            raise RuntimeError(f"GET /health answered {reply.status}")
        return "ok"

    def answers(self) -> list[Answer]:
        """The answers logged since the last call. The server logs an answer's status line
        before it sends the answer, so every request a finished command made is here."""
        text = ANSI_COLOUR.sub("", self.log_path.read_text(errors="replace"))
        fresh, self._read = text[self._read :], len(text)
        return [
            Answer(found["method"], found["path"], int(found["status"]))
            for found in REQUEST_LINE.finditer(fresh)
        ]

    def stop(self) -> None:
        """Stop the server by its PID (one process: ``manage.py run`` reloads nothing)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
