"""Throwaway PostgreSQL and Redis servers for a test run that names none: a pytest plugin.

Loaded with ``-p support.local_services`` (setup.cfg), so its ``pytest_load_initial_conftests``
runs before any conftest reads ``TEST_DATABASE_URL`` and ``TEST_REDIS_URL``. When neither is set
and the machine has PostgreSQL's server binaries and ``redis-server``, it starts one of each,
as pytest-postgresql and pytest-redis do: a temporary directory, a free loopback port, owned by
this run, stopped by PID at its end, and it sets the two variables for the run. A user who sets
either variable (even to nothing, to run SQLite only) keeps full control: nothing is started.
The run ends with one line saying which backends ran, and why the PostgreSQL/Redis half did not.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

VARIABLES = ("TEST_DATABASE_URL", "TEST_REDIS_URL")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# initdb refuses to run as root: the server then runs as the first of these that exists.
UNPRIVILEGED_USERS = ("postgres", "nobody")
# Settings for a database whose contents never outlive the run.
POSTGRES_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
PR_SET_PDEATHSIG = 1


@dataclass
class LocalServices:
    """What this run uses for the PostgreSQL/Redis half, and the servers it started for it."""

    origin: str = ""  # "environment", "local", or "" when the half is skipped
    skipped_because: str = ""
    servers: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    described: list[str] = field(default_factory=list)
    directory: Path | None = None
    tests_run: dict[str, int] = field(default_factory=lambda: {"sqlite": 0, "postgresql": 0})

    def start(self) -> None:
        """Decide where the half runs; start the servers and set the variables if it is here."""
        if any(name in os.environ for name in VARIABLES):
            missing = [
                f"{name} is {'empty' if name in os.environ else 'not set'}"
                for name in VARIABLES
                if not os.environ.get(name)
            ]
            if missing:
                self.skipped_because = " and ".join(missing)
            else:
                self.origin = "environment"
            return
        postgres_bin, redis_server = _postgres_bin_directory(), shutil.which("redis-server")
        if postgres_bin is None:
            self.skipped_because = (
                "no TEST_DATABASE_URL and no local PostgreSQL server binaries (initdb, postgres)"
            )
            return
        if redis_server is None:
            self.skipped_because = "no TEST_REDIS_URL and no local redis-server"
            return
        self.directory = Path(tempfile.mkdtemp(prefix="tessera-test-services-"))
        try:
            database_url = self._start_postgres(postgres_bin)
            redis_url = self._start_redis(redis_server)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            self.stop()
            self.skipped_because = f"could not start a local server: {exc}"
            return
        os.environ["TEST_DATABASE_URL"] = database_url
        os.environ["TEST_REDIS_URL"] = redis_url
        self.origin = "local"

    def _start_postgres(self, bin_directory: Path) -> str:
        """Make a cluster in a directory of its own and start PostgreSQL on it."""
        directory = self.directory / "postgresql"
        directory.mkdir()
        user = _unprivileged_user() if os.geteuid() == 0 else None
        if user is not None:
            self.directory.chmod(0o711)  # the server's user may pass through, not look in
            os.chown(directory, user.pw_uid, user.pw_gid)
        data, log = directory / "data", directory / "server.log"
        initdb = [bin_directory / "initdb", "-D", data, "-U", "postgres", "-A", "trust"]
        initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(
            initdb, capture_output=True, text=True, timeout=60, **_as_user(user), check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {_last_line(done.stderr)}")
        port = _free_port()
        command = [bin_directory / "postgres", "-D", data, "-p", str(port)]
        command += [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={directory}",
        ]
        for name, value in POSTGRES_SETTINGS.items():
            command += ["-c", f"{name}={value}"]
        self._launch("PostgreSQL", command, log, user)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        version = _wait_until(lambda: _postgres_version(port), "PostgreSQL", log, self.servers[-1])
        self.described.append(f"PostgreSQL {version} on 127.0.0.1:{port}")
        return url

    def _start_redis(self, redis_server: str) -> str:
        """Start a Redis that keeps nothing on disk."""
        directory = self.directory / "redis"
        directory.mkdir()
        port = _free_port()
        command = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(directory), "--daemonize", "no"]
        log = directory / "server.log"
        self._launch("Redis", command, log, None)
        version = _wait_until(lambda: _redis_version(port), "Redis", log, self.servers[-1])
        self.described.append(f"Redis {version} on 127.0.0.1:{port}")
        return f"redis://127.0.0.1:{port}/0"

    def _launch(self, name: str, command: list, log: Path, user: pwd.struct_passwd | None):
        with open(log, "ab") as output:
            process = subprocess.Popen(
                [str(part) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                **_as_user(user),
            )
        self.servers.append((name, process))

    def stop(self) -> None:
        """Stop each server this run started, by its PID, and remove their directory."""
        for _name, process in reversed(self.servers):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown; Redis exits
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        self.servers.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        if self.origin == "local":
            for name in VARIABLES:
                os.environ.pop(name, None)

    def summary(self) -> str:
        """One line: which backends ran, and why the PostgreSQL/Redis half did not."""
        ran = f"backends: sqlite ({self.tests_run['sqlite']} tests)"
        if self.origin == "local":
            where = "throwaway " + " and ".join(self.described)
        elif self.origin == "environment":
            where = "TEST_DATABASE_URL and TEST_REDIS_URL"
        else:
            return f"{ran}; PostgreSQL/Redis half skipped: {self.skipped_because}"
        return f"{ran} and postgresql+redis ({self.tests_run['postgresql']} tests, {where})"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count each test that ran (was not skipped) on a backend, by its parameter id."""
        if report.when != "call" or not report.nodeid.endswith("]"):
            return
        ids = report.nodeid.rpartition("[")[2][:-1].split("-")
        for backend in self.tests_run:
            if backend in ids:
                self.tests_run[backend] += 1

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_line(self.summary())


def _postgres_bin_directory() -> Path | None:
    """The directory of PostgreSQL's initdb and postgres: on the PATH, else Debian's newest."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in debian), key=_major_version, reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def _major_version(bin_directory: Path) -> int:
    name = bin_directory.parent.name
    return int(name) if name.isdigit() else 0


def _unprivileged_user() -> pwd.struct_passwd:
    for name in UNPRIVILEGED_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"running as root with no user to run initdb as ({UNPRIVILEGED_USERS})")


def _as_user(user: pwd.struct_passwd | None) -> dict:
    """Popen's arguments that run a command as ``user`` (no supplementary groups)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the test run dies without stopping it (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_version(port: int) -> str:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=1
    ) as connection:
        return connection.execute("SHOW server_version").fetchone()[0].split()[0]


def _redis_version(port: int) -> str:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    try:
        return client.info("server")["redis_version"]
    finally:
        client.close()


def _wait_until(probe, name: str, log: Path, server: tuple[str, subprocess.Popen]) -> str:
    """Return what ``probe`` answers once the server does; raise if it exits or never does."""
    process = server[1]
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {_last_line(log.read_text(errors='replace'))}")
        try:
            return probe()
        except Exception:  # any failure to answer means: not yet
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not answer in {START_TIMEOUT:.0f} s")


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before any conftest: start the servers if the run needs them, stop them at its end."""
    services = LocalServices()
    early_config.add_cleanup(services.stop)
    services.start()
    early_config.pluginmanager.register(services, "tessera-local-services")
