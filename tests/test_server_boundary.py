"""What a real server, as shipped (gunicorn with ``gunicorn.conf.py``, granian with
``api/granian_settings.py``), does with hostile clients: broken chunked bodies, bodies cut short,
forged log lines, slow clients, and several workers without shared counters."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from support.accounts import PASSWORD
from support.loopback import call
from support.servers import SERVERS, Server, deployment_for, servers

pytestmark = pytest.mark.slow
# How long the slow clients keep the server's threads waiting.
SLOW_CLIENTS_SECONDS = 3.0
# What each server logs as it starts a worker.
WORKER_STARTED = {"gunicorn": "Booting worker", "granian": "Spawning worker-"}


@pytest.fixture(scope="module", params=SERVERS)
def server(request, tmp_path_factory):
    """One server as shipped (SQLite, one worker process) and alice's access token."""
    with deployment_for(
        "sqlite", tmp_path_factory.mktemp(f"boundary-{request.param}")
    ) as deployment:
        deployment.prepare("alice", password=PASSWORD)
        with servers(deployment, 1, server=request.param) as (running,):
            login = call(
                running.port, "POST", "/login", {"username": "alice", "password": PASSWORD}
            )
            yield running, deployment, login.body["access_token"]


def _raw(port: int, request: bytes, half_close: bool = False, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; return everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def _note_count(deployment) -> int:
    return deployment.query("SELECT count(*) FROM notes")[0][0]


@pytest.mark.parametrize(
    "chunk", [b"zz\r\nab\r\n0\r\n\r\n", b"-5\r\nab\r\n0\r\n\r\n", b"2\r\nabXY"]
)
@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/login", "/notes"])
def test_a_broken_chunked_body_is_a_4xx_on_every_route(server, chunk, path):
    running, deployment, token = server
    before = _note_count(deployment)
    method = b"GET" if path in ("/health", "/openapi.json") else b"POST"
    request = (
        method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n\r\n" + chunk
    )
    answer = _raw(running.port, request, half_close=True)
    status = _status(answer)
    assert 200 <= status < 500, answer[:200]
    if path not in ("/health", "/openapi.json"):
        assert 400 <= status < 500
    assert _note_count(deployment) == before
    assert "Traceback" not in running.log()


def test_a_body_cut_short_of_its_content_length_makes_no_note(server):
    running, deployment, token = server
    before = _note_count(deployment)
    body = b'{"title": "half a note"}'
    request = (
        b"POST /notes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body) + 50).encode()
        + b"\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n\r\n" + body
    )
    answer = _raw(running.port, request, half_close=True)
    assert _status(answer) == 400, answer[:300]
    assert _note_count(deployment) == before


def test_an_encoded_line_break_in_a_path_cannot_forge_an_access_log_line(server):
    running, _, _ = server
    forged = "127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] FORGED-LINE"
    path = "/health%0d%0a" + forged.replace(" ", "%20")
    _raw(running.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    log = _log_once_it_holds(running, "FORGED-LINE")  # the request was logged...
    assert not any(line.startswith("127.0.0.1 - - [01/Jan/2026") for line in log.splitlines())
    assert "\\x0d\\x0a" in log  # ...with its line break escaped


def _log_once_it_holds(running, text: str, timeout: float = 5.0) -> str:
    """Return the server's log once ``text`` is in it (access lines follow the response)."""
    deadline = time.monotonic() + timeout
    while text not in (log := running.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


def _slow_client(port: int, stop: threading.Event) -> None:
    """Send a request's header lines one every half second until told to stop."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        count = 0
        while not stop.wait(0.5):
            count += 1
            connection.sendall(f"X-Slow-{count}: {'a' * 10}\r\n".encode())


def test_slow_clients_do_not_stop_health_from_answering(server):
    running, _, _ = server
    stop = threading.Event()
    slow = [
        threading.Thread(target=_slow_client, args=(running.port, stop), daemon=True)
        for _ in range(4)
    ]
    for client in slow:
        client.start()
    try:
        time.sleep(0.5)  # let every slow client take its connection
        deadline = time.monotonic() + SLOW_CLIENTS_SECONDS
        answered = 0
        while time.monotonic() < deadline:
            assert call(running.port, "GET", "/health", timeout=2).status == 200
            answered += 1
            time.sleep(0.2)
        assert answered >= 5
    finally:
        stop.set()
        for client in slow:
            client.join(timeout=5)


@pytest.mark.parametrize("server_kind", SERVERS)
def test_several_workers_without_redis_start_without_a_warning(tmp_path, server_kind):
    """The counters are in the database every worker shares: nothing to warn of."""
    with deployment_for("sqlite", tmp_path) as deployment:
        deployment.prepare(password=PASSWORD)
        server = Server(deployment, "two-workers", workers=2, server=server_kind)
        try:
            server.start()
            log = server.log()
        finally:
            server.close()
    assert WORKER_STARTED[server_kind] in log
    assert "on its own" not in log and "REDIS_URL" not in log
