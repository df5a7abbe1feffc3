"""Two real gunicorn servers sharing one database and one key behave as one service."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.accounts import PASSWORD
from support.backends import BACKENDS
from support.loopback import call
from support.servers import deployment_for, servers

pytestmark = pytest.mark.slow
LIMIT = 3
_names = (f"user{n}" for n in itertools.count())


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request, tmp_path_factory):
    """Servers A and B on one database and one secret key, shared by this module's tests.

    Each test logs in as a user of its own. No test here fails a login: the per-address
    counter would then refuse the other tests' logins.
    """
    tmp_path = tmp_path_factory.mktemp(f"pair-{request.param}")
    with deployment_for(request.param, tmp_path) as deployment:
        # No refresh leeway: a reuse at once is the theft signal these tests follow.
        deployment.settings["REFRESH_REUSE_LEEWAY"] = "0"
        deployment.prepare(password=PASSWORD)
        with servers(deployment, 2) as (a, b):
            yield deployment, a, b


@pytest.fixture
def a(pair):
    return pair[1]


@pytest.fixture
def b(pair):
    return pair[2]


@pytest.fixture
def username(pair) -> str:
    """A user of the test's own on the shared database."""
    name = next(_names)
    pair[0].prepare(name, password=PASSWORD)
    return name


def log_in(server, username, password=PASSWORD):
    reply = call(server.port, "POST", "/login", {"username": username, "password": password})
    assert reply.status == 200, reply.body
    return reply.body


def me(server, tokens):
    return call(server.port, "GET", "/me", token=tokens["access_token"])


def refresh(server, tokens):
    return call(server.port, "POST", "/refresh", {"refresh_token": tokens["refresh_token"]})


def test_tokens_from_one_server_work_on_the_other(a, b, username):
    tokens = log_in(a, username)
    assert me(b, tokens).body["username"] == username
    renewed = refresh(b, tokens)
    assert renewed.status == 200
    assert me(a, renewed.body).status == 200
    assert me(a, tokens).status == 200  # the old access token lives until it expires


def test_logout_on_one_server_is_refused_on_the_other_at_once(a, b, username):
    tokens = log_in(a, username)
    assert me(b, tokens).status == 200
    assert call(b.port, "POST", "/logout", token=tokens["access_token"]).status == 204
    refused = me(a, tokens)
    assert refused.status == 401
    assert refused.body["detail"] == "session revoked"
    assert refresh(a, tokens).status == 401


def test_password_change_on_one_server_ends_the_other_sessions_everywhere(a, b, username):
    kept, other = log_in(a, username), log_in(b, username)
    changed = call(
        a.port,
        "POST",
        "/password",
        {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        token=kept["access_token"],
    )
    assert changed.status == 204
    assert me(b, other).status == 401
    assert me(a, other).status == 401
    assert refresh(b, other).status == 401
    assert me(b, kept).status == 200
    assert log_in(b, username, password="a brand new passphrase")


def test_refresh_token_reuse_on_one_server_revokes_the_session_on_the_other(a, b, username):
    first = log_in(a, username)
    second = refresh(a, first)
    assert second.status == 200
    reused = refresh(b, first)
    assert reused.status == 401
    assert reused.body["detail"] == "refresh token reused; session revoked"
    assert me(a, second.body).status == 401
    assert refresh(b, second.body).status == 401


def test_parallel_refreshes_of_one_token_across_servers_have_exactly_one_winner(a, b, username):
    tokens = log_in(a, username)
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda i: refresh((a, b)[i % 2], tokens), range(16)))
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200] + [401] * 15, statuses


def test_the_access_log_holds_no_credentials(a, username):
    tokens = log_in(a, username)
    assert me(a, tokens).status == 200
    assert refresh(a, tokens).status == 200
    log = a.log()
    assert '"GET /me HTTP/1.1" 200' in log
    assert '"POST /refresh HTTP/1.1" 200' in log
    for secret in (tokens["access_token"], tokens["refresh_token"], PASSWORD, "Bearer"):
        assert secret not in log


@pytest.fixture
def limited_pair(backend, tmp_path):
    """A pair of its own, with a low limit: failed logins here must not reach other tests."""
    if backend == "sqlite":
        pytest.skip("without Redis each process counts alone; the PostgreSQL leg shares Redis")
    with deployment_for(backend, tmp_path) as deployment:
        deployment.settings["LOGIN_RATE_LIMIT"] = f"{LIMIT} per minute"
        deployment.prepare("bob", password=PASSWORD)
        with servers(deployment, 2) as (a, b):
            yield a, b


def test_failed_logins_are_counted_across_servers_through_redis(limited_pair):
    a, b = limited_pair
    for server in (a, b, a):
        wrong = call(server.port, "POST", "/login", {"username": "bob", "password": "wrong one!"})
        assert wrong.status == 401
    for server in (b, a):
        right = call(server.port, "POST", "/login", {"username": "bob", "password": PASSWORD})
        assert right.status == 429
        assert int(right.headers["retry-after"]) >= 1


def test_the_server_header_names_no_version(a):
    assert call(a.port, "GET", "/health").headers["server"] == "gunicorn"
