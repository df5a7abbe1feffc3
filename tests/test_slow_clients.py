"""Slow clients cost nothing: a request head has 10 seconds, a body 10 seconds and then 500
bytes a second (API.md "Conventions"), and 200 slow connections never stop the others' answers.

The server tests run each server as shipped (gunicorn with ``gunicorn.conf.py``, granian with
``api/granian_settings.py``; one process per CPU, without Redis) on loopback; one thread drives
every slow connection, each sending a byte a second.
"""

from __future__ import annotations

import io
import json
import resource
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
from support.accounts import PASSWORD
from support.loopback import Unanswered, call
from support.servers import SERVERS, deployment_for, servers
from werkzeug.test import EnvironBuilder, run_wsgi_app

from api.http import request_deadline
from api.http.request_deadline import (
    GRACE_SECONDS,
    MIN_RATE,
    BodyTooSlow,
    RequestDeadline,
    read_stream_by_deadline,
)

SLOW_HEADS = 100
SLOW_BODIES = 100
# How late past its deadline a slow connection may still be open: the server's timers, a
# loaded machine and the driver's own ticks.
SLACK_SECONDS = 3.0
# Every other client's answer within this, whatever the slow ones do.
PROBE_SECONDS = 1.0
TICK_SECONDS = 0.1
# Between two rounds of probes: a client asking now and then, not a flood of its own.
PROBE_INTERVAL_SECONDS = 0.25
# Argon2id passes that make one hash take about a second here.
HEAVY_TIME_COST = 60
# granian runs each WSGI request on a thread from the moment its head is in, and a read of
# ``wsgi.input`` waits, GIL released, until the bytes asked for arrive: no timer can cut it.
BODY_NEVER_CUT = (
    "granian: a read of wsgi.input blocks its thread until the bytes asked for arrive and "
    "cannot be interrupted, so a body trickling at a byte a second is never answered 408 at "
    "its deadline (only once its client leaves), and each such body holds one of the worker's "
    "blocking threads all the while"
)
LOGIN_HEAD = b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@dataclass
class Connection:
    """One client connection that sends ``payload`` at ``rate`` bytes a second after ``head``."""

    name: str
    head: bytes
    payload: bytes
    rate: float
    sock: socket.socket | None = None
    opened: float = 0.0
    sent: int = 0
    closed: float | None = None
    answer: bytes = b""

    @property
    def open_for(self) -> float:
        return (self.closed or time.monotonic()) - self.opened

    @property
    def status(self) -> int:
        first = self.answer.split(b"\r\n", 1)[0].split(b" ")
        return int(first[1]) if self.answer.startswith(b"HTTP/") and len(first) > 1 else 0


@dataclass
class Trickle:
    """Drive many connections from one thread: send each its bytes at its rate, and note when
    the server answers and when it closes the connection."""

    port: int
    connections: list[Connection]
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def __enter__(self) -> Trickle:
        self.selector = selectors.DefaultSelector()
        for connection in self.connections:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(connection.head)
            sock.setblocking(False)
            connection.sock, connection.opened = sock, time.monotonic()
            self.selector.register(sock, selectors.EVENT_READ, connection)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for connection in self.connections:
            connection.sock.close()
        self.selector.close()

    def open(self) -> list[Connection]:
        return [connection for connection in self.connections if connection.closed is None]

    def _run(self) -> None:
        while not self.stop.is_set() and self.open():
            for connection in self.open():
                self._send_due(connection)
            for key, _ in self.selector.select(timeout=TICK_SECONDS):
                self._receive(key.data)

    def _send_due(self, connection: Connection) -> None:
        due = min(len(connection.payload), int(connection.rate * connection.open_for))
        if due <= connection.sent:
            return
        try:
            connection.sent += connection.sock.send(connection.payload[connection.sent : due])
        except BlockingIOError:
            pass
        except OSError:
            self._close(connection)

    def _receive(self, connection: Connection) -> None:
        try:
            data = connection.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            connection.answer += data
        else:
            self._close(connection)

    def _close(self, connection: Connection) -> None:
        if connection.closed is None:
            connection.closed = time.monotonic()
            self.selector.unregister(connection.sock)


def _slow_head(number: int) -> Connection:
    """A request head that never ends: one more byte of a header line each second."""
    return Connection(f"head {number}", LOGIN_HEAD + b"X-Slow: ", b"a" * 1000, rate=1)


def _slow_body(number: int) -> Connection:
    """A login whose body, 100,000 bytes long, arrives at one byte a second."""
    head = LOGIN_HEAD + b"Content-Length: 100000\r\n\r\n"
    return Connection(f"body {number}", head, b"{" + b" " * 1000, rate=1)


def _steady_login() -> Connection:
    """A login whose 12,000-byte body arrives at 1,000 bytes a second: slow, never too slow."""
    login = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    payload = login.rjust(12_000)  # JSON allows the leading whitespace
    head = LOGIN_HEAD + f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
    return Connection("steady login", head, payload, rate=1000)


def _probe(port: int, path: str, token: str | None = None) -> float:
    """Ask ``path`` on a fresh connection; return how long the 200 took."""
    started = time.monotonic()
    try:
        reply = call(port, "GET", path, token=token, timeout=PROBE_SECONDS * 5)
    except Unanswered as exc:
        pytest.fail(f"{path} went unanswered under slow clients: {exc}")
    assert reply.status == 200, (path, reply.status, reply.body)
    return time.monotonic() - started


@pytest.fixture
def raised_descriptor_limit():
    """Room for 200 slow connections, the probes and the server's pipes in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
@pytest.mark.parametrize(
    "server_kind",
    [
        "gunicorn",
        pytest.param("granian", marks=pytest.mark.xfail(strict=True, reason=BODY_NEVER_CUT)),
    ],
)
def test_slow_heads_and_bodies_are_cut_off_while_everyone_else_is_answered(
    tmp_path, raised_descriptor_limit, server_kind
):
    with deployment_for("sqlite", tmp_path) as deployment:
        deployment.settings["WEB_CONCURRENCY"] = ""  # as the server's settings decide
        deployment.prepare("alice", password=PASSWORD)
        with servers(deployment, 1, workers=None, server=server_kind) as (server,):
            login = call(server.port, "POST", "/login", {"username": "alice", "password": PASSWORD})
            token = login.body["access_token"]
            heads = [_slow_head(number) for number in range(SLOW_HEADS)]
            bodies = [_slow_body(number) for number in range(SLOW_BODIES)]
            steady = _steady_login()
            latencies: dict[str, list[float]] = {"/health": [], "/me": []}
            with Trickle(server.port, [*heads, *bodies, steady]) as trickle:
                deadline = time.monotonic() + GRACE_SECONDS + SLACK_SECONDS + 2
                while trickle.open() and time.monotonic() < deadline:
                    latencies["/health"].append(_probe(server.port, "/health"))
                    latencies["/me"].append(_probe(server.port, "/me", token))
                    time.sleep(PROBE_INTERVAL_SECONDS)
                still_open = [connection.name for connection in trickle.open()]

    assert still_open == []
    for path, seconds in latencies.items():
        assert len(seconds) >= 10, (path, seconds)  # asked all along, not once at the end
        assert max(seconds) < PROBE_SECONDS, (path, max(seconds))
    for connection in heads:  # closed, unanswered, at the head's deadline
        assert GRACE_SECONDS - 0.5 <= connection.open_for <= GRACE_SECONDS + SLACK_SECONDS
        assert connection.answer == b"", connection.answer[:200]
    for connection in bodies:  # answered 408 and closed at the body's deadline
        assert connection.status == 408, connection.answer[:300]
        assert b"application/problem+json" in connection.answer
        assert GRACE_SECONDS - 0.5 <= connection.open_for <= GRACE_SECONDS + SLACK_SECONDS
    assert steady.status == 200, steady.answer[-300:]
    assert b'"access_token"' in steady.answer
    assert steady.open_for > GRACE_SECONDS  # its body outlived the grace, at a fair rate


@pytest.mark.slow
@pytest.mark.parametrize("server_kind", SERVERS)
def test_a_login_s_password_hash_never_stops_the_others(tmp_path, server_kind):
    """Argon2 at about a second a hash: the others are answered all the while (gevent's loop
    runs it on a thread of its pool; granian's worker has other threads to answer them)."""
    with deployment_for("sqlite", tmp_path) as deployment:
        deployment.cheap_hashing = False
        deployment.settings.update(WEB_CONCURRENCY="", ARGON2_TIME_COST=str(HEAVY_TIME_COST))
        deployment.prepare("alice", password=PASSWORD)  # hashed cheaper: rehashed at login
        with servers(deployment, 1, workers=None, server=server_kind) as (server,):
            logins: list[int] = []

            def log_in_twice() -> None:  # a rehash, then a verification, each about a second
                for _ in range(2):
                    credentials = {"username": "alice", "password": PASSWORD}
                    logins.append(call(server.port, "POST", "/login", credentials).status)

            hashing = threading.Thread(target=log_in_twice)
            started = time.monotonic()
            hashing.start()
            latencies = []
            while hashing.is_alive():
                latencies.append(_probe(server.port, "/health"))
            hashing.join()
            hashed_for = time.monotonic() - started

    assert logins == [200, 200]
    assert hashed_for > 1.0  # the hashes were slow enough to see
    assert len(latencies) >= 10
    assert max(latencies) < hashed_for / 4, (hashed_for, latencies)


class ClockedStream:
    """A request body whose every read takes ``seconds_per_read`` on a clock the test keeps."""

    def __init__(self, body: bytes, seconds_per_read: float) -> None:
        self.stream = io.BytesIO(body)
        self.seconds_per_read = seconds_per_read
        self.now = 0.0
        self.reads = 0

    def clock(self) -> float:
        return self.now

    def read(self, size: int) -> bytes:
        self.now += self.seconds_per_read
        self.reads += 1
        return self.stream.read(size)


def test_a_body_has_its_grace_then_must_keep_up_the_minimum_rate():
    # 1,024 bytes a second: past the grace, every read buys more time than it takes.
    body = b"x" * 30_000
    fair = ClockedStream(body, seconds_per_read=1.0)
    assert read_stream_by_deadline(fair, len(body), None, fair.clock) == body
    assert fair.now > GRACE_SECONDS
    # 1,024 bytes every 3 s: under 500 a second, so it falls behind once the grace is spent.
    slow = ClockedStream(body, seconds_per_read=3.0)
    with pytest.raises(BodyTooSlow) as cut:
        read_stream_by_deadline(slow, len(body), None, slow.clock)
    # Cut at the read that ended after the deadline: 10 s plus one per 500 bytes received.
    received = (slow.reads - 1) * 1024
    assert cut.value.received == received
    assert slow.now > GRACE_SECONDS + received / MIN_RATE
    assert slow.now - 3.0 <= GRACE_SECONDS + received / MIN_RATE
    assert slow.reads < 30  # long before the whole body


def test_a_body_that_stalls_within_the_grace_is_cut_at_the_grace():
    stalled = ClockedStream(b"x" * 10, seconds_per_read=GRACE_SECONDS + 0.1)
    with pytest.raises(BodyTooSlow) as cut:
        read_stream_by_deadline(stalled, 10_000, None, stalled.clock)
    assert stalled.reads == 1 and cut.value.received == 0


def test_a_chunked_body_is_read_to_its_end_but_never_past_the_limit():
    small = ClockedStream(b"y" * 3000, seconds_per_read=0.01)
    assert read_stream_by_deadline(small, None, 1_000_000, small.clock) == b"y" * 3000
    huge = ClockedStream(b"z" * 50_000, seconds_per_read=0.01)
    # One byte past the limit: enough for the 413.
    assert read_stream_by_deadline(huge, None, 10_000, huge.clock) == b"z" * 10_001


def _login_environ(body: bytes) -> dict:
    return EnvironBuilder(
        method="POST", path="/login", data=body, content_type="application/json"
    ).get_environ()


def test_a_body_too_slow_is_a_408_and_the_app_never_sees_the_request(app):
    seen = []

    def inner(environ, start_response):
        seen.append(environ)
        return app.wsgi_app(environ, start_response)

    body = b"{" + b" " * 20_000
    slow = ClockedStream(body, seconds_per_read=3.0)  # 1,024 bytes per 3 s
    environ = _login_environ(body)
    environ["wsgi.input"] = slow
    answer, status, headers = run_wsgi_app(RequestDeadline(inner, app, slow.clock), environ)
    assert status.startswith("408")
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Connection"] == "close"  # the rest of the body is never read
    assert json.loads(b"".join(answer))["status"] == 408
    assert seen == []


def test_the_app_reads_every_body_through_the_deadline(app, monkeypatch):
    monkeypatch.setattr(request_deadline, "GRACE_SECONDS", 0.0)  # no time for any body
    answer = app.test_client().post("/login", json={"username": "alice", "password": "x" * 20})
    assert answer.status_code == 408
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["Connection"] == "close"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"  # inside the headers' middleware
    assert app.test_client().get("/health").status_code == 200  # no body, nothing to wait for


def test_the_app_gets_the_whole_body_once_it_has_arrived(app):
    body = json.dumps({"username": "nobody", "password": "x" * 20}).encode().rjust(5000)
    fair = ClockedStream(body, seconds_per_read=0.5)
    environ = _login_environ(body)
    environ["wsgi.input"] = fair
    answer, status, _ = run_wsgi_app(RequestDeadline(app.wsgi_app, app, fair.clock), environ)
    assert status.startswith("401"), b"".join(answer)  # the JSON was read whole: a wrong login
    assert fair.reads == 5
