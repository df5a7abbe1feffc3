"""Real gunicorn and granian servers, for the tests that need several processes and for the
benchmark, each launched as production launches it.

A gunicorn server listens on a loopback socket that its caller opens and hands over
(``fd://``). granian takes no socket: its workers each bind the port, with ``SO_REUSEPORT``, so
the caller holds the port with a socket bound the same way that never listens (the kernel gives
connections only to listening sockets). Either way no port can be taken between choosing and
binding it, and a restarted server answers on the same port. Servers are stopped by PID,
workers included, and never outlive their caller.
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
SERVERS = ("gunicorn", "granian")
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


def granian_command(
    port: int,
    workers: int | None = 1,
    factory: str = "api:create_app",
    options: Sequence[str] = (),
) -> list[str]:
    """The command that serves ``factory`` on loopback ``port`` with ``api/granian_settings.py``,
    as production does; the factory gets the instance folder ``TESSERA_INSTANCE_PATH`` names.

    As for gunicorn, the command line sets only the port, the workers (None: as the settings
    decide), a short graceful timeout and any ``options``.
    """
    command = [sys.executable, "-m", "api.granian_settings", "--bind", f"127.0.0.1:{port}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    return [*command, "--graceful-timeout", "5", "--app", factory, *options]


def reserved_port() -> socket.socket:
    """A loopback port held for granian's workers: bound as they bind it, never listening."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    return holder


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
        # One process unless the caller says otherwise ("": as the server's settings choose).
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
    """One server's main process and its workers, serving the app on a loopback port.

    ``server`` is ``"gunicorn"`` (``gunicorn.conf.py``) or ``"granian"``
    (``api/granian_settings.py``). ``factory`` names the app factory the server calls with the
    instance path: Tessera's own, unless the caller serves a variant of it (the benchmark adds
    a bare route). Its standard error (the server's log, the app's and the audit lines) goes to
    ``log_path``; its standard output (the access log) too, unless ``separate_stdout`` keeps it
    apart in ``stdout_path``. As a context manager it is started on entry and stopped on exit.
    """

    def __init__(
        self,
        deployment: Deployment,
        name: str,
        workers: int | None = 1,
        factory: str = "api:create_app",
        options: Sequence[str] = (),
        separate_stdout: bool = False,
        server: str = "gunicorn",
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
        self.deployment = deployment
        self.name = name
        self.workers = workers
        self.factory = factory
        self.options = tuple(options)
        self.kind = server
        if server == "gunicorn":
            self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        else:
            self.listener = reserved_port()
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
        environment = self.deployment.environment()
        if self.kind == "gunicorn":
            command = gunicorn_command(
                self.listener, instance, self.workers, self.factory, self.options
            )
            inherited: tuple[int, ...] = (self.listener.fileno(),)
        else:
            command = granian_command(self.port, self.workers, self.factory, self.options)
            environment["TESSERA_INSTANCE_PATH"] = str(instance)
            inherited = ()
        with ExitStack() as files:
            log = files.enter_context(open(self.log_path, "ab"))
            stdout = files.enter_context(open(self.stdout_path, "ab")) if self.stdout_path else log
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                pass_fds=inherited,
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
        """The main process's PID and its workers' PIDs."""
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
    server: str = "gunicorn",
) -> Iterator[list[Server]]:
    """Start ``count`` servers (gunicorn or granian) on one deployment; stop them all
    afterwards, whatever happens."""
    started = [
        Server(deployment, f"{name}{i}", workers, factory, options, server=server)
        for i in range(count)
    ]
    try:
        for each in started:
            each.launch()
        for each in started:
            each.wait_until_ready()
        yield started
    finally:
        leftovers = [each.signal_stop() for each in started]
        for each, workers in zip(started, leftovers, strict=True):
            each.wait_stopped(workers)
            each.listener.close()


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
