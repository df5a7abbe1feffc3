"""Counters exact everywhere, through real servers (SECURITY.md OPS-02).

Without Redis the failed-attempt counters are rows of the database every process shares: on
SQLite, ``gunicorn -w 4`` refuses at exactly the limit and still after a restart; on
PostgreSQL, two servers on one database do. Each attempt is counted before its secret is
checked, so a burst of concurrent guesses passes the limit by none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from support.accounts import PASSWORD, totp_code
from support.backends import BACKENDS, TEST_DATABASE_URL, postgresql_schema
from support.loopback import call
from support.servers import Deployment, servers

pytestmark = pytest.mark.slow

LIMIT = 10
BURST = 40
WORKERS = 4


@contextmanager
def deployment_without_redis(backend: str, tmp_path) -> Iterator[Deployment]:
    """A database of the test's own and no Redis: the counters are the database's."""
    if backend == "sqlite":
        yield Deployment(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path)
        return
    with postgresql_schema(TEST_DATABASE_URL) as url:
        yield Deployment(url, tmp_path)


@pytest.fixture(params=BACKENDS)
def deployment(request, tmp_path) -> Iterator[Deployment]:
    with deployment_without_redis(request.param, tmp_path) as deployment:
        deployment.settings["LOGIN_RATE_LIMIT"] = f"{LIMIT} per minute"
        deployment.settings["WEB_CONCURRENCY"] = str(WORKERS)
        deployment.prepare("alice", password=PASSWORD)
        yield deployment


def _wrong_password(server) -> int:
    return call(server.port, "POST", "/login", {"username": "alice", "password": "wrong!"}).status


def _burst(attempt, count: int = BURST) -> Counter:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(lambda _: attempt(), range(count)))


def _failures(deployment: Deployment, event: str) -> int:
    """The secrets checked and found wrong: the failure events that name one."""
    rows = deployment.query(
        "SELECT CAST(fields AS TEXT) FROM audit_events"  # noqa: S608 - the test's own constant
        f" WHERE event = '{event}' AND outcome = 'failure'"
    )
    return sum('"reason": "wrong' in fields for (fields,) in rows)


def test_concurrent_wrong_passwords_pass_the_limit_by_none(deployment):
    with servers(deployment, 1, workers=WORKERS) as (server,):
        statuses = _burst(lambda: _wrong_password(server))
        assert _wrong_password(server) == 429
    # Never one more than the limit. An attempt refused by one counter gives its hit on the
    # other back, so a burst racing on both may be refused a little before the limit.
    assert set(statuses) == {401, 429} and statuses[401] <= LIMIT
    assert _failures(deployment, "login") == statuses[401]  # every 401 checked one password


def test_wrong_passwords_spread_over_workers_are_refused_at_the_limit_and_after_a_restart(
    deployment,
):
    with servers(deployment, 1, workers=WORKERS) as (server,):
        assert len(server.pids()) == WORKERS + 1
        # One at a time, on fresh connections: gunicorn hands them to its workers in turn.
        statuses = [_wrong_password(server) for _ in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429]
        right = call(server.port, "POST", "/login", {"username": "alice", "password": PASSWORD})
        assert right.status == 429
        server.stop()
        server.start()
        again = call(server.port, "POST", "/login", {"username": "alice", "password": PASSWORD})
        assert again.status == 429
        assert int(again.headers["retry-after"]) >= 1


def test_two_servers_on_one_database_share_the_counters(deployment):
    with servers(deployment, 2, workers=2) as (a, b):
        statuses = [_wrong_password(server) for server in [a, b] * (LIMIT // 2)]
        assert statuses == [401] * LIMIT
        for server in (a, b):
            right = call(server.port, "POST", "/login", {"username": "alice", "password": PASSWORD})
            assert right.status == 429


def test_concurrent_wrong_codes_on_one_mfa_token_pass_its_limit_by_none(deployment):
    deployment.settings["LOGIN_RATE_LIMIT"] = "1000 per minute"  # the challenge's limit alone
    with servers(deployment, 1, workers=WORKERS) as (server,):
        tokens = call(server.port, "POST", "/login", {"username": "alice", "password": PASSWORD})
        access = tokens.body["access_token"]
        secret = call(server.port, "POST", "/mfa/totp", token=access).body["secret"]
        confirmed = call(
            server.port, "POST", "/mfa/totp/confirm", {"code": totp_code(secret)}, access
        )
        assert confirmed.status == 200
        first = call(server.port, "POST", "/login", {"username": "alice", "password": PASSWORD})
        mfa_token = first.body["mfa_token"]
        wrong = f"{(int(totp_code(secret)) + 500000) % 1000000:06d}"

        def guess() -> int:
            body = {"mfa_token": mfa_token, "code": wrong}
            return call(server.port, "POST", "/login/mfa", body).status

        statuses = _burst(guess)
    assert statuses[401] >= 5 and set(statuses) <= {401, 429}
    assert _failures(deployment, "mfa_challenge") == 5  # codes checked: the challenge's five
