"""Through PgBouncer in transaction mode, two servers still behave as one service.

PgBouncer before 1.21 hands each transaction to whichever server connection is free, so a
statement psycopg prepared on one is unknown, or named twice, on another:
``DATABASE_PREPARE_THRESHOLD=none`` keeps psycopg from preparing any. With it, the multi-server
tests of test_multiprocess.py and test_no_lost_writes.py run here once more, through PgBouncer.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.accounts import PASSWORD
from support.backends import TEST_DATABASE_URL
from support.pgbouncer import PGBOUNCER, pgbouncer_in_front_of, pgbouncer_version
from support.servers import Deployment, servers

# The same tests, collected here too: the fixtures below serve them through PgBouncer.
from test_multiprocess import (  # noqa: F401
    a,
    b,
    test_logout_on_one_server_is_refused_on_the_other_at_once,
    test_parallel_refreshes_of_one_token_across_servers_have_exactly_one_winner,
    test_refresh_token_reuse_on_one_server_revokes_the_session_on_the_other,
    test_tokens_from_one_server_work_on_the_other,
    username,
)
from test_no_lost_writes import (  # noqa: F401
    test_concurrent_writes_on_two_servers_are_all_kept_and_none_fails,
)

from api import create_app
from api.database import db

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PGBOUNCER is None, reason="pgbouncer is not installed (apt-get install pgbouncer)"
    ),
    pytest.mark.skipif(
        not TEST_DATABASE_URL,
        reason="set TEST_DATABASE_URL to put PgBouncer in front of PostgreSQL",
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two servers of two workers each, on one database reached only through PgBouncer."""
    tmp_path = tmp_path_factory.mktemp("pgbouncer")
    with (
        pytest.MonkeyPatch.context() as environment,
        pgbouncer_in_front_of(TEST_DATABASE_URL) as url,
    ):
        # In the environment, so the servers and the apps that prepare the database all read it.
        environment.setenv("DATABASE_PREPARE_THRESHOLD", "none")
        deployment = Deployment(url, tmp_path)
        # No refresh leeway: a reuse at once is the theft signal the reused tests follow.
        deployment.settings["REFRESH_REUSE_LEEWAY"] = "0"
        deployment.prepare(password=PASSWORD)
        with servers(deployment, 2, workers=2) as pair:
            yield "pgbouncer", deployment, pair


@pytest.fixture(scope="module")
def pair(cluster):
    _, deployment, (first, second) = cluster
    return deployment, first, second


def run_one_statement_alternately(engine, times: int) -> None:
    """Run one statement ``times`` times on each of two connections, turn by turn."""
    with engine.connect() as first, engine.connect() as second:
        for n in range(times):
            for connection in (first, second):
                assert connection.execute(sa.text("SELECT :n + 1"), {"n": n}).scalar() == n + 1
                connection.commit()


@pytest.fixture
def one_server_connection(tmp_path):
    """An app factory for a database behind a PgBouncer with a single server connection."""
    with pgbouncer_in_front_of(TEST_DATABASE_URL, pool_size=1) as url:
        made = []

        def make(threshold):
            app = create_app(
                {
                    "SECRET_KEY": "k" * 64,
                    "DATABASE_URL": url,
                    "DATABASE_PREPARE_THRESHOLD": threshold,
                },
                instance_path=str(tmp_path / f"instance-{len(made)}"),
            )
            made.append(app)
            with app.app_context():
                return db.engine

        yield make
        for app in made:
            with app.app_context():
                db.engine.dispose()


def test_without_prepared_statements_clients_share_a_server_connection(one_server_connection):
    engine = one_server_connection(None)
    run_one_statement_alternately(engine, times=10)
    with engine.connect() as connection:
        assert connection.connection.dbapi_connection.prepare_threshold is None


@pytest.mark.skipif(
    (pgbouncer_version() or (0, 0)) >= (1, 21), reason="PgBouncer 1.21+ tracks prepared statements"
)
def test_psycopg_s_default_threshold_breaks_under_pgbouncer_before_1_21(one_server_connection):
    engine = one_server_connection(5)
    with pytest.raises(sa.exc.ProgrammingError, match=r"prepared statement .* already exists"):
        run_one_statement_alternately(engine, times=10)
