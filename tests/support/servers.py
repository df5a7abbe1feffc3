"""Real gunicorn servers, for the tests that need several processes and for the benchmark.

Each server listens on a loopback socket that its caller opens and hands over (``fd://``), so
no port can be taken between choosing and binding it, and a restarted server answers on the
same port. Servers are stopped by PID, workers included, and never outlive their caller.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from api import create_app
from api.database import db, upgrade_schema
from api.origin import CLI
from api.services import accounts

from . import ROOT
from .backends import backend_for
from .hashing import CHEAP_HASHING, CHEAP_HASHING_ENV
from .loopback import Unanswered, call

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
START_TIMEOUT = 45.0  # returns as soon as ready; a loaded machine may take long
STOP_TIMEOUT = 10.0


def gunicorn_command(
    listener: socket.socket,
    instance_path: Path,
    workers: int | None = 1,
    factory: str = "api:create_app",
    options: Sequence[str] = (),
) -> list[str]:
    """The command that serves ``factory(instance_path)`` on ``listener``, as production does.

    The production settings come from ``gunicorn.conf.py``; the command line sets only the
    socket, the workers (None: as ``gunicorn.conf.py`` decides), a short graceful timeout, so
    that stopping takes seconds, and any ``options`` (the benchmark's worker classes).
    """
    command = [GUNICORN, "--config", str(ROOT / "gunicorn.conf.py")]
    command += ["--bind", f"fd://{listener.fileno()}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    command += ["--graceful-timeout", "5", *options]
    return [*command, f"{factory}(instance_path={str(instance_path)!r})"]


@dataclass
class Deployment:
    """What the servers of one test share: a database, a Redis key prefix, the keys."""

    database_url: str
    instance_path: Path
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    settings: dict[str, str] = field(default_factory=dict)
    # Tests check behaviour with the cheapest Argon2id; the benchmark measures the real one.
    cheap_hashing: bool = True

    def environment(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TEST_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"))
        }
        if self.cheap_hashing:
            env.update(CHEAP_HASHING_ENV)
        env.update(self.settings)
        env["SECRET_KEY"] = self.secret_key
        env["DATABASE_URL"] = self.database_url
        # One process unless the caller says otherwise ("": as gunicorn.conf.py chooses).
        env["WEB_CONCURRENCY"] = self.settings.get("WEB_CONCURRENCY", "1")
        if not env["WEB_CONCURRENCY"]:
            del env["WEB_CONCURRENCY"]
        env["GUNICORN_ACCESS_LOG"] = "-"
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def app(self):
        """An app in this process on the same database, to prepare and inspect it."""
        config = {"SECRET_KEY": self.secret_key, "DATABASE_URL": self.database_url}
        if self.cheap_hashing:
            config.update(CHEAP_HASHING)
        return create_app(config, instance_path=str(self.instance_path / "inspect"))

    def prepare(self, *usernames: str, password: str = "") -> None:
        """Upgrade the schema to head and create the users (with ``password``)."""
        app = self.app()
        with app.app_context():
            upgrade_schema()
            for name in usernames:
                accounts.create_user(name, password, origin=CLI)
            db.engine.dispose()

    def query(self, statement: str) -> list[tuple]:
        """Run one SQL statement on the shared database and return its rows."""
        app = self.app()
        with app.app_context():
            try:
                with db.engine.connect() as connection:
                    return [tuple(row) for row in connection.execute(sa.text(statement))]
            finally:
                db.engine.dispose()


class Server:
    """One gunicorn master and its workers, serving the app on a loopback socket.

    ``factory`` names the app factory gunicorn calls with the instance path: Tessera's own,
    unless the caller serves a variant of it (the benchmark adds a bare route). Its standard
    error (gunicorn's log, the app's and the audit lines) goes to ``log_path``; its standard
    output (the access log) too, unless ``separate_stdout`` keeps it apart in ``stdout_path``.
    As a context manager it is started on entry and stopped on exit.
    """

    def __init__(
        self,
        deployment: Deployment,
        name: str,
        workers: int | None = 1,
        factory: str = "api:create_app",
        options: Sequence[str] = (),
        separate_stdout: bool = False,
    ) -> None:
        self.deployment = deployment
        self.name = name
        self.workers = workers
        self.factory = factory
        self.options = tuple(options)
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.log_path = deployment.instance_path / f"{name}.log"
        self.stdout_path = deployment.instance_path / f"{name}.out" if separate_stdout else None
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, ready: Callable[[], bool] | None = None) -> None:
        """Start the server and wait until it answers ``GET /health`` (and ``ready()`` holds)."""
        self.launch()
        self.wait_until_ready(ready)

    def launch(self) -> None:
        """Start the server's processes without waiting for them."""
        instance = self.deployment.instance_path / "instance"
        command = gunicorn_command(
            self.listener, instance, self.workers, self.factory, self.options
        )
        with ExitStack() as files:
            log = files.enter_context(open(self.log_path, "ab"))
            stdout = files.enter_context(open(self.stdout_path, "ab")) if self.stdout_path else log
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.deployment.environment(),
                pass_fds=(self.listener.fileno(),),
                stdout=stdout,
                stderr=log,
            )

    def wait_until_ready(self, ready: Callable[[], bool] | None = None) -> None:
        """Return once the server answers ``GET /health`` and ``ready()``, if given, holds
        (say, every worker has started); stop it if that never comes."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server {self.name} exited:\n{self.log()}")
            try:
                answered = call(self.port, "GET", "/health", timeout=1).status == 200
            except Unanswered:
                answered = False
            if answered and (ready is None or ready()):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} did not start in time:\n{self.log()}")

    def refused_start(self) -> int:
        """Launch the server when it must refuse to start; return its exit status.

        One that starts after all is stopped, and the test fails saying so.
        """
        self.launch()
        try:
            return self.process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"server {self.name} started:\n{self.log()}") from None
        finally:
            self.listener.close()

    def pids(self) -> list[int]:
        """The master's PID and its workers' PIDs."""
        if self.process is None or self.process.poll() is not None:
            return []
        master = self.process.pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            children = []
        return [master, *(int(pid) for pid in children)]

    def crash(self) -> None:
        """Kill the master and every worker with SIGKILL, as a power cut would."""
        for pid in self.pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop gracefully by the master's PID; kill by PID whatever is left."""
        self.wait_stopped(self.signal_stop())

    def signal_stop(self) -> list[int]:
        """Ask the master to stop; return the PIDs of its workers."""
        if self.process is None or self.process.poll() is not None:
            return []
        workers = self.pids()[1:]
        self.process.send_signal(signal.SIGTERM)
        return workers

    def wait_stopped(self, workers: list[int]) -> None:
        """Wait for the master to exit, then kill by PID any worker it left behind."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        for pid in workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        self.stop()
        self.listener.close()

    def log(self) -> str:
        """What the server wrote on standard error (and standard output, unless kept apart)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stdout(self) -> str:
        """What the server wrote on standard output, when kept apart from its log."""
        path = self.stdout_path
        return path.read_text(errors="replace") if path and path.exists() else ""


@contextmanager
def servers(
    deployment: Deployment,
    count: int,
    workers: int | None = 1,
    factory: str = "api:create_app",
    options: Sequence[str] = (),
    name: str = "server",
) -> Iterator[list[Server]]:
    """Start ``count`` servers on one deployment; stop them all afterwards, whatever happens."""
    started = [Server(deployment, f"{name}{i}", workers, factory, options) for i in range(count)]
    try:
        for server in started:
            server.launch()
        for server in started:
            server.wait_until_ready()
        yield started
    finally:
        leftovers = [server.signal_stop() for server in started]
        for server, workers in zip(started, leftovers, strict=True):
            server.wait_stopped(workers)
            server.listener.close()


@contextmanager
def deployment_for(backend: str, tmp_path: Path) -> Iterator[Deployment]:
    """A database (and Redis prefix) of the test's own, dropped afterwards."""
    with backend_for(backend, tmp_path / "shared.db") as place:
        if place.key_prefix is not None:
            # The app reads no key prefix from the environment: the servers get it from the
            # instance file.
            instance = tmp_path / "instance"
            instance.mkdir(parents=True, exist_ok=True)
            (instance / "config.py").write_text(f"RATE_LIMIT_KEY_PREFIX = {place.key_prefix!r}\n")
        yield Deployment(place.database_url, tmp_path, place.redis_url)
