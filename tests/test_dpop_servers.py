"""DPoP replay across processes and hosts: two gunicorn servers of two workers each, one
database (and, with ``TEST_REDIS_URL``, one Redis), accept each proof once between them."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.accounts import PASSWORD
from support.backends import BACKENDS
from support.dpop import DpopKey
from support.servers import deployment_for, servers

pytestmark = pytest.mark.slow
# Both servers answer for one public URL, as behind one load balancer: a proof is good for both.
PUBLIC_URL = "https://api.example.com"


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(f"dpop-{request.param}")
    with deployment_for(request.param, tmp_path) as deployment:
        deployment.settings["PUBLIC_URL"] = PUBLIC_URL
        deployment.prepare("alice", password=PASSWORD)
        with servers(deployment, 2, workers=2) as started:
            yield started


def send(server, method: str, path: str, headers: dict[str, str], body=None):
    """One request on a fresh connection: its status and its parsed body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        sent = {"Connection": "close", **headers}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def log_in(server, key: DpopKey) -> str:
    proof = key.proof("POST", f"{PUBLIC_URL}/login")
    status, body = send(
        server, "POST", "/login", {"DPoP": proof}, {"username": "alice", "password": PASSWORD}
    )
    assert status == 200, body
    assert body["token_type"] == "DPoP"
    return body["access_token"]


def test_a_session_bound_on_one_server_works_on_the_other_and_a_proof_only_once(pair):
    a, b = pair
    key = DpopKey("ES256")
    token = log_in(a, key)
    proof = key.proof("GET", f"{PUBLIC_URL}/me", token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert send(b, "GET", "/me", headers)[0] == 200
    status, body = send(a, "GET", "/me", headers)
    assert (status, body["detail"]) == (401, "DPoP proof already used")


def test_one_proof_sent_at_once_to_every_worker_of_both_servers_passes_once(pair):
    a, b = pair
    key = DpopKey("EdDSA")
    token = log_in(b, key)
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": key.proof("GET", f"{PUBLIC_URL}/me", token),
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda server: send(server, "GET", "/me", headers), [a, b] * 4))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [401] * 7


def test_one_login_proof_logs_in_once_across_servers(pair):
    a, b = pair
    key = DpopKey("ES256")
    proof = key.proof("POST", f"{PUBLIC_URL}/login")
    body = {"username": "alice", "password": PASSWORD}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda s: send(s, "POST", "/login", {"DPoP": proof}, body), [a, b] * 2)
        )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 400, 400, 400]
    assert all(
        answer["error"] == "invalid_dpop_proof" for status, answer in answers if status == 400
    )
