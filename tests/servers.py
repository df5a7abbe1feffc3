"""Real gunicorn servers for the tests that need several processes.

Each server listens on a loopback socket that the test opens and hands over (``fd://``), so
no port can be taken between choosing and binding it, and a restarted server answers on the
same port. Servers are stopped by PID, workers included, and never outlive their test.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api import create_app
from api.database import db, upgrade_schema
from api.services import accounts

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CHEAP_HASHING_ENV = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8", "ARGON2_PARALLELISM": "1"}


class Unanswered(Exception):
    """The server did not answer: refused, reset, or timed out."""


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> Reply:
    """Send one request on a fresh connection; raise Unanswered if no answer came back."""
    headers = {"Connection": "close"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unanswered(f"{method} {path} on port {port}: {exc!r}") from None
    finally:
        connection.close()
    parsed = json.loads(data) if data else None
    return Reply(response.status, parsed, {k.lower(): v for k, v in response.getheaders()})


@dataclass
class Deployment:
    """What the servers of one test share: a database, a Redis key prefix, the keys."""

    database_url: str
    instance_path: Path
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    settings: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TEST_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"))
        }
        env.update(CHEAP_HASHING_ENV)
        env.update(self.settings)
        env["SECRET_KEY"] = self.secret_key
        env["DATABASE_URL"] = self.database_url
        env["WEB_CONCURRENCY"] = "1"
        env["GUNICORN_ACCESS_LOG"] = "-"
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def app(self):
        """An app in this process on the same database, to prepare and inspect it."""
        config = {
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1,
        }
        return create_app(config, instance_path=str(self.instance_path / "inspect"))

    def prepare(self, *usernames: str, password: str) -> None:
        """Upgrade the schema to head and create the users."""
        app = self.app()
        with app.app_context():
            upgrade_schema()
            for name in usernames:
                accounts.create_user(name, password)
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
    """One gunicorn master and its workers, serving the app on a loopback socket."""

    def __init__(self, deployment: Deployment, name: str, workers: int = 1) -> None:
        self.deployment = deployment
        self.name = name
        self.workers = workers
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.log_path = deployment.instance_path / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait until it answers ``GET /health``."""
        self.launch()
        self.wait_until_ready()

    def launch(self) -> None:
        """Start the server's processes without waiting for them."""
        fd = self.listener.fileno()
        instance = str(self.deployment.instance_path / "instance")
        command = [
            GUNICORN,
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"fd://{fd}",
            "--workers",
            str(self.workers),
            "--graceful-timeout",
            "5",
            f"api:create_app(instance_path={instance!r})",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.deployment.environment(),
                pass_fds=(fd,),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_ready(self) -> None:
        """Return once the server answers ``GET /health``; stop it if it never does."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server {self.name} exited:\n{self.log()}")
            try:
                if call(self.port, "GET", "/health", timeout=1).status == 200:
                    return
            except Unanswered:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} did not start in time:\n{self.log()}")

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
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def servers(deployment: Deployment, count: int, workers: int = 1) -> Iterator[list[Server]]:
    """Start ``count`` servers on one deployment; stop them all afterwards, whatever happens."""
    started = [Server(deployment, f"server{i}", workers) for i in range(count)]
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
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if backend == "sqlite":
        yield Deployment(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path)
        return
    schema = f"test_{secrets.token_hex(6)}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    prefix = f"tessera-test-{secrets.token_hex(6)}"
    instance = tmp_path / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "config.py").write_text(f"RATE_LIMIT_KEY_PREFIX = {prefix!r}\n")
    separator = "&" if "?" in database_url else "?"
    try:
        yield Deployment(
            f"{database_url}{separator}options=-csearch_path%3D{schema}", tmp_path, redis_url
        )
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
        client.close()
