"""Tessera's benchmark: what a request costs, side by side with a bare JSON route.

Run it with ``make bench`` (or ``.venv/bin/python benchmarks/bench.py --help``). In one run it
seeds two databases (1,000 and 1,000,000 users), then measures every case in process, as WSGI
calls with prepared environs: the cases are interleaved in shuffled order and repeated for many
rounds, and each round's time per request is kept, so the table shows the median, min and max.
Ratios compare each median with the bare route's median of the same run. With ``--http`` the
same paths are then measured over loopback against gunicorn (2 workers), with wrk when it is
installed or a small Python load generator otherwise, each case bounded in time.

Nothing here asserts a time: the targets are printed as met or missed, and kept in the JSON.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import io
import json
import logging
import os
import platform
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
import time_machine  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import event  # noqa: E402

from api import create_app, passwords, tokens  # noqa: E402
from api.client_info import Client  # noqa: E402
from api.database import (  # noqa: E402
    create_schema,
    db,
)
from api.models import LoginSession, Note, User, UTCDateTime  # noqa: E402
from api.services import accounts, sessions  # noqa: E402

PASSWORD = "correct horse battery staple"
BARE_PATH = "/bench/bare"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# Generous enough that the benchmark's own failed logins are never throttled.
NO_THROTTLE = "1000000 per minute"

# (case, target ratio to the bare route, most queries); the tests pin the exact counts.
TARGETS = {
    "me_valid": (4.0, 1),
    "me_forged": (2.0, 0),
    "me_expired": (2.0, 0),
    "me_unknown_key": (2.0, 0),
    "me_no_header": (2.0, 0),
    "me_revoked": (4.0, 1),
    "notes_10000": (6.0, 3),
}


# --- seeding ---------------------------------------------------------------------------------


def app_config(database_url: str, secret_key: str) -> dict[str, Any]:
    """Production settings (OWASP Argon2id), with failed-login throttling out of the way."""
    return {
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "LOGIN_RATE_LIMIT": NO_THROTTLE,
    }


def add_bare_route(app: Flask) -> None:
    """Register the ceiling: a JSON route with no auth, no schema and no database."""

    def bare():
        return {"status": "ok"}

    app.add_url_rule(BARE_PATH, "bench_bare", bare)


def build_app(database_url: str, secret_key: str, instance: Path) -> Flask:
    """Create the app as production would, plus the bare route."""
    app = create_app(app_config(database_url, secret_key), instance_path=str(instance))
    add_bare_route(app)
    return app


def _series(count: int) -> sa.CTE:
    """Rows 1..count, generated inside the database (recursive CTE: SQLite and PostgreSQL)."""
    start = sa.select(sa.literal(1).label("i")).cte("series", recursive=True)
    return start.union_all(sa.select(start.c.i + 1).where(start.c.i < count))


def add_filler_users(count: int, password_hash: str) -> None:
    """Insert ``count`` users, each with one live session, in two statements."""
    series = _series(count)
    name = sa.literal("filler-") + sa.cast(series.c.i, sa.String)
    stamp = sa.literal(EPOCH, UTCDateTime)
    db.session.execute(
        sa.insert(User).from_select(
            ["username", "username_key", "password_hash", "is_admin", "is_active", "created_at"],
            sa.select(name, name, sa.literal(password_hash), sa.false(), sa.true(), stamp),
        )
    )
    users = sa.select(User.id).where(User.username.like("filler-%")).subquery()
    db.session.execute(
        sa.insert(LoginSession).from_select(
            [
                "id",
                "user_id",
                "created_at",
                "last_used_at",
                "expires_at",
                "user_agent",
                "refresh_generation",
            ],
            sa.select(
                sa.literal("filler-") + sa.cast(users.c.id, sa.String),
                users.c.id,
                stamp,
                stamp,
                sa.literal(EPOCH + timedelta(days=3650), UTCDateTime),
                sa.literal("bench"),
                sa.literal(0),
            ),
        )
    )
    db.session.commit()


def add_notes(owner_id: int, count: int) -> None:
    """Give ``owner_id`` ``count`` notes, one second apart."""
    series = _series(count)
    db.session.execute(
        sa.insert(Note).from_select(
            ["owner_id", "title", "body", "created_at", "updated_at"],
            sa.select(
                sa.literal(owner_id),
                sa.literal("note ") + sa.cast(series.c.i, sa.String),
                sa.literal("some text"),
                sa.literal(EPOCH, UTCDateTime),
                sa.literal(EPOCH, UTCDateTime),
            ),
        )
    )
    db.session.execute(
        sa.update(User).where(User.id == owner_id).values(note_count=User.note_count + count)
    )
    db.session.commit()


@dataclass
class Fixture:
    """The seeded app and the tokens and names the cases use."""

    app: Flask
    tokens: dict[str, str] = field(default_factory=dict)


def log_in(app: Flask, username: str) -> sessions.TokenPair:
    with app.test_request_context():
        return sessions.authenticate(username, PASSWORD, Client("127.0.0.1", "bench"))


def seed(app: Flask, filler_users: int, full: bool) -> Fixture:
    """Create the schema and the data; return the tokens the cases send."""
    with app.app_context():
        create_schema()
        for name in ("reader", "few-notes", "revoked", "inactive"):
            accounts.create_user(name, PASSWORD)
        add_filler_users(filler_users, passwords.hashing().hash(secrets.token_hex(8)))
    fixture = Fixture(app)
    fixture.tokens["valid"] = log_in(app, "reader").access_token
    if not full:
        return fixture
    with app.app_context():
        add_notes(accounts.get_user("reader").id, 10_000)
        add_notes(accounts.get_user("few-notes").id, 10)
        accounts.update_user(accounts.get_user("inactive"), {"is_active": False})
    fixture.tokens["few_notes"] = log_in(app, "few-notes").access_token
    revoked = log_in(app, "revoked")
    with app.app_context():
        sessions.logout(revoked.user_id, revoked.session_id)
    fixture.tokens["revoked"] = revoked.access_token
    fixture.tokens["refresh"] = log_in(app, "reader").refresh_token
    fixture.tokens.update(refused_tokens(app, fixture.tokens["valid"]))
    return fixture


def refused_tokens(app: Flask, valid: str) -> dict[str, str]:
    """A forged, an expired and an unknown-key variant of a valid access token."""
    kind, kid, signed = valid.split(".", 2)
    # Flip the signature's first character: its last one carries padding bits, and a change
    # there can decode to the very same signature.
    payload, signature = signed.rsplit(".", 1)
    forged = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with app.app_context(), time_machine.travel(datetime.now(UTC) - timedelta(hours=1)):
        claims = tokens.Claims(1, "expired-session")
        expired = tokens.codec().issue(tokens.ACCESS, claims)
    return {
        "forged": f"{kind}.{kid}.{forged}",
        "expired": expired,
        "unknown_key": f"{kind}.00000000.{signed}",
    }


# --- in-process cases ------------------------------------------------------------------------


def _start_response(status, headers, exc_info=None):
    return None


@dataclass
class Case:
    """One kind of request, and how to prepare and check it."""

    name: str
    app: Flask | None
    prepare: Callable[[], dict[str, Any] | Callable[[], Any]]
    expect: int | None = None
    after: Callable[[bytes], None] | None = None
    batch: int = 10
    every: int = 1

    def run_once(self) -> float:
        """Make one request (or call); return its duration in seconds."""
        target = self.prepare()
        if callable(target):
            start = time.perf_counter()
            target()
            return time.perf_counter() - start
        chunks: list[bytes] = []
        status: list[str] = []

        def start_response(code, headers, exc_info=None):
            status.append(code)

        start = time.perf_counter()
        result = self.app.wsgi_app(target, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        elapsed = time.perf_counter() - start
        if self.expect is not None and not status[0].startswith(str(self.expect)):
            raise RuntimeError(f"{self.name}: got {status[0]}, expected {self.expect}")
        if self.after is not None:
            self.after(b"".join(chunks))
        return elapsed


def environ(path: str, token: str | None = None, body: Any = None) -> Callable[[], dict]:
    """Return a maker of ready WSGI environs for one request (a fresh input stream each)."""
    from werkzeug.test import EnvironBuilder

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    method = "POST" if body is not None else "GET"
    builder = EnvironBuilder(path=path, method=method, headers=headers, json=body)
    base = builder.get_environ()
    data = json.dumps(body).encode() if body is not None else b""
    base["REMOTE_ADDR"] = "127.0.0.1"

    def make() -> dict:
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(data)
        return env

    return make


def login_case(name: str, app: Flask, username: str, password: str, expect: int) -> Case:
    return Case(
        name,
        app,
        environ("/login", body={"username": username, "password": password}),
        expect,
        batch=1,
        every=3,
    )


def refresh_case(fixture: Fixture) -> Case:
    state = {"token": fixture.tokens["refresh"]}

    def prepare():
        return environ("/refresh", body={"refresh_token": state["token"]})()

    def after(body: bytes) -> None:
        state["token"] = json.loads(body)["refresh_token"]

    return Case("refresh", fixture.app, prepare, 200, after)


def verify_case(app: Flask) -> Case:
    with app.app_context():
        hashing = passwords.hashing()
    password_hash = hashing.hash(PASSWORD)
    return Case(
        "password_verify",
        None,
        lambda: lambda: hashing.verify(password_hash, PASSWORD),
        batch=1,
        every=3,
    )


def in_process_cases(main: Fixture, large: Fixture) -> list[Case]:
    """Every case the issue lists; ``large`` differs from ``main`` only in its user count."""
    app, t = main.app, main.tokens
    notes = "/notes?page=1&per_page=20"
    return [
        Case("bare", app, environ(BARE_PATH), 200),
        Case("health", app, environ("/health"), 200),
        Case("me_valid", app, environ("/me", t["valid"]), 200),
        Case("me_forged", app, environ("/me", t["forged"]), 401),
        Case("me_expired", app, environ("/me", t["expired"]), 401),
        Case("me_unknown_key", app, environ("/me", t["unknown_key"]), 401),
        Case("me_no_header", app, environ("/me"), 401),
        Case("me_revoked", app, environ("/me", t["revoked"]), 401),
        Case("notes_10000", app, environ(notes, t["valid"]), 200),
        Case("notes_10", app, environ(notes, t["few_notes"]), 200),
        Case("me_valid_1m_users", large.app, environ("/me", large.tokens["valid"]), 200),
        login_case("login", app, "reader", PASSWORD, 200),
        login_case("login_unknown_user", app, "nobody", PASSWORD, 401),
        login_case("login_wrong_password", app, "reader", PASSWORD + "!", 401),
        login_case("login_deactivated", app, "inactive", PASSWORD, 401),
        refresh_case(main),
        verify_case(app),
    ]


class QueryCounter:
    """Count the statements the apps' engines send."""

    def __init__(self, apps: list[Flask]) -> None:
        self.count = 0
        for app in apps:
            with app.app_context():
                event.listen(db.engine, "before_cursor_execute", self._record)

    def _record(self, *args) -> None:
        self.count += 1

    def during(self, case: Case) -> int:
        self.count = 0
        case.run_once()
        return self.count


def measure(cases: list[Case], rounds: int, scale: float, seed_value: int) -> dict[str, list]:
    """Run the cases interleaved, in a new shuffled order each round.

    In a round each case makes a small batch of requests and keeps their median, so a burst
    of load from elsewhere on the machine spoils one round of a few cases, not a whole case.
    Slow cases (a password hash each) take part in every ``every``-th round only.
    """
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    shuffle = random.Random(seed_value).shuffle
    for number in range(rounds):
        order = [case for case in cases if number % case.every == 0]
        shuffle(order)
        gc.collect()
        gc.disable()
        try:
            for case in order:
                count = max(1, round(case.batch * scale))
                samples[case.name].append(statistics.median(case.run_once() for _ in range(count)))
        finally:
            gc.enable()
    return samples


# --- report ----------------------------------------------------------------------------------


def summarise(samples: dict[str, list[float]], query_counts: dict[str, int]) -> dict[str, dict]:
    bare = statistics.median(samples["bare"])
    bare_min = min(samples["bare"])
    summary = {}
    for name, values in samples.items():
        median = statistics.median(values)
        summary[name] = {
            "median_us": median * 1e6,
            "min_us": min(values) * 1e6,
            "max_us": max(values) * 1e6,
            "ratio_to_bare": median / bare,
            # The same ratio from the fastest rounds: what the case costs with the machine
            # to itself, when other work slows some rounds down.
            "min_ratio_to_bare": min(values) / bare_min,
            "queries": query_counts.get(name),
            "rounds": len(values),
        }
    return summary


def check_targets(summary: dict[str, dict]) -> list[dict[str, Any]]:
    """Compare the medians with the issue's targets."""
    results = []

    def add(target: str, value: float, limit: float, queries_ok: bool = True) -> None:
        met = value <= limit and queries_ok
        results.append({"target": target, "value": round(value, 3), "limit": limit, "met": met})

    for name, (limit, queries) in TARGETS.items():
        row = summary[name]
        add(
            f"{name} <= {limit}x bare, at most {queries} queries",
            row["ratio_to_bare"],
            limit,
            row["queries"] <= queries,
        )
    notes = summary["notes_10000"]["median_us"] / summary["notes_10"]["median_us"]
    add("notes_10000 within 1.5x of notes_10", notes, 1.5)
    login = summary["login"]["median_us"] / summary["password_verify"]["median_us"]
    add("login <= 1.2x one password verification", login, 1.2)
    failed = [
        summary[n]["median_us"]
        for n in ("login_unknown_user", "login_wrong_password", "login_deactivated")
    ]
    add("failed-login medians within 10 % of each other", max(failed) / min(failed), 1.1)
    large = summary["me_valid_1m_users"]["median_us"] / summary["me_valid"]["median_us"]
    add(
        "me_valid with 1,000,000 users within 1.2x of 1,000",
        large,
        1.2,
        summary["me_valid_1m_users"]["queries"] == summary["me_valid"]["queries"],
    )
    return results


def print_table(title: str, summary: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(
        f"{'case':<22} {'median µs':>10} {'min µs':>9} {'max µs':>9} {'x bare':>7} "
        f"{'x (min)':>7} {'queries':>7}"
    )
    for name, row in summary.items():
        queries = "-" if row["queries"] is None else str(row["queries"])
        print(
            f"{name:<22} {row['median_us']:>10.1f} {row['min_us']:>9.1f} {row['max_us']:>9.1f}"
            f" {row['ratio_to_bare']:>7.2f} {row['min_ratio_to_bare']:>7.2f} {queries:>7}"
        )


def print_targets(results: list[dict[str, Any]]) -> None:
    print("\ntargets")
    for row in results:
        mark = "met   " if row["met"] else "MISSED"
        print(f"  {mark} {row['target']}: {row['value']} (limit {row['limit']})")


# --- over HTTP -------------------------------------------------------------------------------


def http_app() -> Flask:
    """The gunicorn entry point: the app from the environment, plus the bare route."""
    app = create_app(instance_path=os.environ["BENCH_INSTANCE"])
    add_bare_route(app)
    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(database_url: str, secret_key: str, instance: Path, port: int):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "LOGIN_RATE_LIMIT": NO_THROTTLE,
        "BENCH_INSTANCE": str(instance),
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT / "benchmarks"),
        "--pythonpath",
        str(ROOT),
        "--log-level",
        "warning",
        "bench:http_app()",
    ]
    log = (instance.parent / "gunicorn.log").open("ab")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    stop(server)
    raise RuntimeError("gunicorn did not start within 30 s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def run_wrk(port: int, path: str, headers: dict, body: Any, seconds: float) -> dict:
    """Run wrk for ``seconds``; return requests per second and the median latency."""
    command = ["wrk", "-t1", "-c4", f"-d{max(1, round(seconds))}s", "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    with tempfile.TemporaryDirectory(prefix="tessera-wrk-") as tmp:
        if body is not None:
            script = Path(tmp) / "post.lua"
            script.write_text(
                f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            command += ["-s", str(script)]
        command.append(f"http://127.0.0.1:{port}{path}")
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    output = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return {"rps": rps, "p50_ms": _wrk_latency(output)}


def _wrk_latency(output: str) -> float | None:
    match = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", output)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_python_load(port: int, path: str, headers: dict, body: Any, seconds: float) -> dict:
    """A small closed-loop load generator: 4 threads, a new connection a request, as wrk does
    against gunicorn's sync workers (which close every connection)."""
    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if body is not None else "GET"
    send_headers = {**headers, **({"Content-Type": "application/json"} if data else {})}
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(method, path, body=data, headers=send_headers)
            connection.getresponse().read()
            connection.close()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rps": len(latencies) / seconds, "p50_ms": statistics.median(latencies) * 1e3}


def measure_http(
    fixture: Fixture,
    database_url: str,
    secret_key: str,
    work: Path,
    rounds: int,
    seconds: float,
    tool: str,
) -> dict[str, Any]:
    """The same paths over loopback against gunicorn with 2 workers."""
    t = fixture.tokens
    bearer = {name: {"Authorization": f"Bearer {t[name]}"} for name in t}
    notes = "/notes?page=1&per_page=20"
    cases = {
        "bare": (BARE_PATH, {}, None),
        "health": ("/health", {}, None),
        "me_valid": ("/me", bearer["valid"], None),
        "me_forged": ("/me", bearer["forged"], None),
        "me_no_header": ("/me", {}, None),
        "me_revoked": ("/me", bearer["revoked"], None),
        "notes_10000": (notes, bearer["valid"], None),
        "login_wrong_password": ("/login", {}, {"username": "reader", "password": PASSWORD + "!"}),
    }
    load = run_wrk if tool == "wrk" else run_python_load
    port = free_port()
    server = start_gunicorn(database_url, secret_key, work / "instance", port)
    samples: dict[str, list[dict]] = {name: [] for name in cases}
    try:
        order = list(cases)
        for _ in range(rounds):
            random.shuffle(order)
            for name in order:
                samples[name].append(load(port, *cases[name], seconds))
    finally:
        stop(server)
    bare = statistics.median(s["rps"] for s in samples["bare"])
    summary = {}
    for name, runs in samples.items():
        rps = statistics.median(s["rps"] for s in runs)
        latencies = [s["p50_ms"] for s in runs if s["p50_ms"] is not None]
        summary[name] = {
            "rps_median": rps,
            "rps_min": min(s["rps"] for s in runs),
            "rps_max": max(s["rps"] for s in runs),
            "p50_ms": statistics.median(latencies) if latencies else None,
            "ratio_to_bare": bare / rps,
        }
    return {
        "tool": tool,
        "workers": 2,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "summary": summary,
        "samples": samples,
    }


def print_http(result: dict[str, Any]) -> None:
    print(
        f"\nover HTTP: gunicorn, 2 workers, {result['tool']}, "
        f"{result['rounds']} x {result['seconds_per_run']} s per case"
    )
    print(f"{'case':<22} {'req/s':>9} {'min':>9} {'max':>9} {'p50 ms':>7} {'x bare':>7}")
    for name, row in result["summary"].items():
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.2f}"
        print(
            f"{name:<22} {row['rps_median']:>9.0f} {row['rps_min']:>9.0f} "
            f"{row['rps_max']:>9.0f} {p50:>7} {row['ratio_to_bare']:>7.2f}"
        )


# --- main ------------------------------------------------------------------------------------


def database_urls(base: str | None, work: Path) -> tuple[str, str]:
    """The main and the large database; with PostgreSQL, two fresh databases on its server."""
    if base is None:
        return f"sqlite:///{work / 'main.db'}", f"sqlite:///{work / 'large.db'}"
    url = sa.make_url(base)
    names = [f"tessera_bench_{kind}_{secrets.token_hex(4)}" for kind in ("main", "large")]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in names:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return tuple(url.set(database=name).render_as_string(hide_password=False) for name in names)


def drop_databases(base: str | None, urls: tuple[str, str]) -> None:
    if base is None:
        return
    admin = sa.create_engine(sa.make_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for url in urls:
            name = sa.make_url(url).database
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    packages = [
        "Flask",
        "Werkzeug",
        "SQLAlchemy",
        "Flask-Login",
        "flask-smorest",
        "itsdangerous",
        "argon2-cffi",
        "gunicorn",
    ]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {name: version(name) for name in packages},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="rounds of the cases")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every batch size")
    parser.add_argument(
        "--large-users",
        type=int,
        default=1_000_000,
        help="users in the large database (default 1,000,000)",
    )
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of SQLite")
    parser.add_argument("--http", action="store_true", help="also measure over loopback")
    parser.add_argument("--http-seconds", type=float, default=2.0, help="seconds per HTTP run")
    parser.add_argument("--http-rounds", type=int, default=3, help="rounds of every HTTP case")
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--output", type=Path, help="results file (default benchmarks/results/)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the shuffled case order")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    secret_key = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        work = Path(tmp)
        urls = database_urls(args.database_url, work)
        try:
            result = run(args, secret_key, work, urls)
        finally:
            drop_databases(args.database_url, urls)
    output = args.output or ROOT / "benchmarks" / "results" / (
        f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nraw results: {output}")
    return 0 if all(row["met"] for row in result["targets"]) else 1


def run(args: argparse.Namespace, secret_key: str, work: Path, urls: tuple[str, str]) -> dict:
    started = time.perf_counter()
    # The audit lines are written as in production, to a file rather than over the table.
    logging.getLogger("tessera.audit").addHandler(logging.FileHandler(work / "audit.log"))
    main_app = build_app(urls[0], secret_key, work / "instance")
    large_app = build_app(urls[1], secret_key, work / "instance-large")
    main_fixture = seed(main_app, 1_000, full=True)
    large_fixture = seed(large_app, args.large_users, full=False)
    print(
        f"seeded in {time.perf_counter() - started:.1f} s "
        f"(1,000 and {args.large_users:,} users; 10,000 notes)"
    )
    cases = in_process_cases(main_fixture, large_fixture)
    counter = QueryCounter([main_app, large_app])
    for case in cases:  # warm up, and reach the steady state (last_used_at just written)
        case.run_once()
    queries = {c.name: counter.during(c) for c in cases if c.app is not None}
    samples = measure(cases, args.rounds, args.scale, args.seed)
    summary = summarise(samples, queries)
    targets = check_targets(summary)
    print_table(f"in process ({args.rounds} rounds, interleaved; per request)", summary)
    print_targets(targets)
    result: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(),
        "environment": environment(),
        "database": "postgresql" if args.database_url else "sqlite",
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "in_process": {"summary": summary, "samples_s": samples},
        "targets": targets,
    }
    if args.http:
        tool = args.load_generator
        if tool == "auto":
            tool = "wrk" if shutil.which("wrk") else "python"
        result["http"] = measure_http(
            main_fixture, urls[0], secret_key, work, args.http_rounds, args.http_seconds, tool
        )
        print_http(result["http"])
    for app in (main_app, large_app):
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result


if __name__ == "__main__":
    sys.exit(main())
