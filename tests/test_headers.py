"""HTTP hygiene: security headers on every response, no cookies ever, no caching of tokens,
bounded bodies and bounded integers.
"""

from __future__ import annotations

import io

import pytest
from flask.sessions import SecureCookieSessionInterface
from support.accounts import PASSWORD
from support.routes import example_operations

JSON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@pytest.fixture
def crash_route(app):
    """A route that fails, added before the app's first request, to see a 500's headers."""

    def crash():
        raise RuntimeError("boom: postgresql://user:secret@db/tessera")

    app.add_url_rule("/crash", "crash", crash)


class Recorder:
    """A test client that keeps every response it got."""

    def __init__(self, client) -> None:
        self.client = client
        self.responses = []

    def __call__(self, method: str, path: str, **kwargs):
        response = self.client.open(path, method=method, **kwargs)
        self.responses.append((method, path, response))
        return response


def _full_session(send, admin_headers) -> None:
    """A session's story, successes and failures, as one client and one admin would meet them.

    Every operation of the app is called on its own below, from the URL map; this story adds
    the answers only a sequence gives (a spent refresh token, a 413, a 500, a logged-out 401).
    """
    send("GET", "/health")
    send("GET", "/openapi.json")
    tokens = send("POST", "/login", json={"username": "alice", "password": PASSWORD}).get_json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    send("POST", "/login", json={"username": "alice", "password": "wrong password"})
    send("GET", "/me", headers=auth)
    note = send("POST", "/notes", json={"title": "t", "body": "b"}, headers=auth).get_json()
    send("GET", "/notes?page=1&per_page=5", headers=auth)
    send("GET", f"/notes/{note['id']}", headers=auth)
    send("PATCH", f"/notes/{note['id']}", json={"title": "u"}, headers=auth)
    send("DELETE", f"/notes/{note['id']}", headers=auth)
    send("GET", "/sessions", headers=auth)
    refreshed = send("POST", "/refresh", json={"refresh_token": tokens["refresh_token"]})
    send("POST", "/refresh", json={"refresh_token": tokens["refresh_token"]})  # a race: 200
    auth = {"Authorization": f"Bearer {refreshed.get_json()['access_token']}"}
    tokens = send("POST", "/login", json={"username": "alice", "password": PASSWORD}).get_json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = {"current_password": PASSWORD, "new_password": "a new passphrase"}
    send("POST", "/password", json=body, headers=auth)
    send("GET", "/users", headers=auth)  # 403
    bob = {"username": "bob", "password": PASSWORD}
    bob_id = send("POST", "/users", json=bob, headers=admin_headers).get_json()["id"]
    send("PATCH", f"/users/{bob_id}", json={"is_active": False}, headers=admin_headers)
    send("DELETE", f"/users/{bob_id}", headers=admin_headers)
    send("GET", "/users", headers=admin_headers)
    send("GET", "/notes/999", headers=auth)  # 404
    send("GET", "/nowhere")  # 404, no route
    send("PUT", "/login")  # 405
    send("POST", "/login", data="username=alice", content_type="text/plain")  # 415
    send("POST", "/login", data="{bad", content_type="application/json")  # 400
    send("POST", "/login", json={"username": "alice"})  # 422
    big = b"x" * (1024 * 1024 + 1)
    send("POST", "/notes", data=big, content_type="application/json", headers=auth)  # 413
    send("GET", "/crash")  # 500
    send("DELETE", "/sessions", headers=auth)
    send("POST", "/logout", headers=auth)  # 401 now: every session has ended
    send("GET", "/me")  # 401, no credentials


def test_every_response_of_a_full_session_has_the_security_headers_and_no_cookie(
    crash_route, client, make_user, admin
):
    make_user("alice")
    send = Recorder(client)
    _full_session(send, admin.headers)
    statuses = {response.status_code for _, _, response in send.responses}
    assert {200, 201, 204, 400, 401, 403, 404, 405, 413, 415, 422, 500} <= statuses
    for method, path, response in send.responses:
        _assert_the_security_headers_and_no_cookie(method, path, response)
    crashed = next(r for m, p, r in send.responses if p == "/crash")
    assert b"secret" not in crashed.get_data() and b"Traceback" not in crashed.get_data()


def _assert_the_security_headers_and_no_cookie(method: str, path: str, response) -> None:
    where = (method, path, response.status_code)
    for name, value in JSON_HEADERS.items():
        assert response.headers.get(name) == value, where
    assert "default-src 'none'" in response.headers["Content-Security-Policy"], where
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], where
    assert "Set-Cookie" not in response.headers, where
    assert "Server" not in response.headers and "X-Powered-By" not in response.headers
    if response.status_code >= 400:
        assert response.content_type == "application/problem+json", where


@pytest.mark.parametrize(
    ("method", "path", "access"),
    example_operations(),
    ids=[f"{method} {path}" for method, path, _ in example_operations()],
)
def test_every_operation_answers_with_the_security_headers_and_no_cookie(
    client, admin, method, path, access
):
    """Every (rule, method) of the app's URL map, a guarded one called with an admin's fresh
    session token (it carries every scope a session can); a sample id may well be a 404."""
    headers = admin.headers if access is not None else {}
    body = {} if method != "GET" else None
    response = client.open(path, method=method, json=body, headers=headers)
    if access is not None:  # the guard let the token through: the view answered
        assert response.status_code != 401, response.get_json()
        assert "insufficient_scope" not in response.headers.get("WWW-Authenticate", "")
    _assert_the_security_headers_and_no_cookie(method, path, response)


def test_the_docs_page_has_a_policy_of_its_own_and_the_same_headers(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "http:" not in policy and "https:" not in policy and "*" not in policy
    assert "Set-Cookie" not in response.headers


def test_responses_carrying_tokens_are_never_cached(client, alice):
    login = client.post("/login", json={"username": "alice", "password": PASSWORD})
    refresh = client.post("/refresh", json={"refresh_token": alice.refresh_token})
    for response in (login, refresh):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


def test_a_replayed_session_cookie_never_authenticates(app, client, alice):
    # A Flask session cookie signed with the app's own key, naming alice, as Flask-Login's
    # cookie path would read it; and a remember-me cookie. Neither may stand in for a token.
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    forged = serializer.dumps({"_user_id": str(alice.user_id), "_fresh": True, "_id": "x"})
    client.set_cookie("session", forged)
    client.set_cookie("remember_token", f"{alice.user_id}|{'0' * 128}")
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert client.get("/me", headers=alice.headers).status_code == 200
    client.post("/logout", headers=alice.headers)
    assert client.get("/me").status_code == 401


def test_a_body_over_1_mib_is_413_by_its_content_length_before_it_is_read(client, alice):
    # The header says 2 MiB but only a few bytes follow: the app answers from the header.
    response = client.post(
        "/notes",
        input_stream=io.BytesIO(b'{"title": "x"}'),
        headers={**alice.headers, "Content-Type": "application/json"},
        environ_overrides={"CONTENT_LENGTH": str(2 << 20)},
    )
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"


def _chunked(client, alice, body: bytes):
    """Send ``body`` as a server hands over a chunked one: no length, a terminated stream."""
    return client.post(
        "/notes",
        input_stream=io.BytesIO(body),
        headers={**alice.headers, "Content-Type": "application/json"},
        # Werkzeug then ignores the length the test client computes, as a server would.
        environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"},
    )


MIB = 1024 * 1024


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "' + b"x" * (2 * MIB) + b'"}',
        # Valid JSON once cut at 1 MiB: Werkzeug alone would hand the first MiB over as is.
        b'{"title": "padded"}' + b" " * (2 * MIB),
        b'{"title": "padded"}' + b" " * (MIB - 18),
    ],
    ids=["2 MiB", "padded to 2 MiB", "1 MiB + 1 byte"],
)
def test_a_body_over_1_mib_is_413_without_a_content_length(client, alice, body):
    assert len(body) > MIB
    response = _chunked(client, alice, body)
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert client.get("/notes", headers=alice.headers).get_json()["total"] == 0


def test_a_body_of_1_mib_or_less_without_a_content_length_is_read(client, alice):
    assert _chunked(client, alice, b'{"title": "chunked"}').status_code == 201
    exactly = b'{"title": "exactly"}' + b" " * (MIB - 20)
    assert len(exactly) == MIB
    assert _chunked(client, alice, exactly).status_code == 201


HUGE = "9" * 40


@pytest.mark.parametrize(
    "path",
    [f"/notes/{HUGE}", "/notes/2147483648", "/notes/0", "/notes/-1", "/notes/1e3", "/notes/0x10"],
)
def test_ids_in_paths_outside_the_column_range_are_404(client, alice, path):
    response = client.get(path, headers=alice.headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_the_largest_id_is_an_ordinary_404(client, alice, admin):
    assert client.get("/notes/2147483647", headers=alice.headers).status_code == 404
    assert client.delete("/users/2147483647", headers=admin.headers).status_code == 404


def test_an_id_past_the_range_on_an_admin_route_is_refused_without_a_query(client, admin, queries):
    queries.clear()
    response = client.delete(f"/users/{HUGE}", headers=admin.headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert not any("users" in statement and "DELETE" in statement for statement in queries)


@pytest.mark.parametrize(
    "query",
    [f"page={HUGE}", "page=1000001", "page=0", "page=-1", f"per_page={HUGE}", "per_page=101",
     "per_page=0", "page=1e3", "page=NaN", "page=%00"],
)  # fmt: skip
def test_page_numbers_outside_their_range_are_422(client, alice, query):
    response = client.get(f"/notes?{query}", headers=alice.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


def test_the_last_allowed_page_is_empty(client, alice):
    response = client.get("/notes?page=1000000&per_page=100", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["items"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/login", '{"username": "alice", "password": "\\ud800 lone high surrogate"}'),
        ("/login", '{"username": "\\udc00lice", "password": "whatever it is"}'),
        ("/notes", '{"title": "\\udc00"}'),
        ("/notes", '{"title": "ok", "body": "pair broken: \\ud83d x"}'),
    ],
)
def test_an_escaped_lone_surrogate_is_400_not_a_crash(client, alice, path, body):
    response = client.post(path, data=body, content_type="application/json", headers=alice.headers)
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert "surrogate" in response.get_json()["detail"]


def test_an_escaped_surrogate_pair_is_ordinary_text(client, alice):
    body = '{"title": "key \\ud83d\\udd11"}'
    headers = {**alice.headers, "Content-Type": "application/json"}
    response = client.post("/notes", data=body, headers=headers)
    assert response.status_code == 201
    assert response.get_json()["title"] == "key \U0001f511"
