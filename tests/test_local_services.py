"""The test run's own PostgreSQL and Redis: started only when no one chose, and said why not.

The servers themselves are exercised by every PostgreSQL-parametrized test of a run that
starts them; these tests check the choices, without starting anything.
"""

from __future__ import annotations

import pytest
from support import local_services
from support.local_services import LocalServices


@pytest.fixture
def environment(monkeypatch):
    """Neither variable set; the machine's servers are found as they are unless a test says."""
    for name in local_services.VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def refuse_to_start(*args, **kwargs):
        raise AssertionError("a server was started")

    monkeypatch.setattr(local_services.LocalServices, "_launch", refuse_to_start)
    return monkeypatch


def test_variables_the_user_set_are_used_and_nothing_is_started(environment):
    environment.setenv("TEST_DATABASE_URL", "postgresql+psycopg://u@db.example:5432/t")
    environment.setenv("TEST_REDIS_URL", "redis://cache.example:6379/0")
    services = LocalServices()
    services.start()
    assert services.origin == "environment" and services.servers == []
    services.tests_run["postgresql"] = 3
    assert services.summary().endswith(
        "postgresql+redis (3 tests, TEST_DATABASE_URL and TEST_REDIS_URL)"
    )


def test_a_variable_set_empty_skips_the_half_and_says_which(environment):
    environment.setenv("TEST_DATABASE_URL", "")
    services = LocalServices()
    services.start()
    assert services.origin == "" and services.servers == []
    assert services.summary() == (
        "backends: sqlite (0 tests); PostgreSQL/Redis half skipped: "
        "TEST_DATABASE_URL is empty and TEST_REDIS_URL is not set"
    )


def test_without_postgresql_binaries_the_half_is_skipped_saying_so(environment):
    environment.setattr(local_services, "_postgres_bin_directory", lambda: None)
    services = LocalServices()
    services.start()
    assert services.summary().endswith(
        "PostgreSQL/Redis half skipped: no TEST_DATABASE_URL and no local PostgreSQL server "
        "binaries (initdb, postgres)"
    )


def test_without_redis_server_the_half_is_skipped_saying_so(environment, tmp_path):
    environment.setattr(local_services, "_postgres_bin_directory", lambda: tmp_path)
    environment.setattr(local_services.shutil, "which", lambda name: None)
    services = LocalServices()
    services.start()
    assert services.summary().endswith("no TEST_REDIS_URL and no local redis-server")


def test_tests_are_counted_by_the_backend_in_their_parameter_id():
    services = LocalServices()
    for nodeid, when in [
        ("tests/test_login.py::test_a[sqlite]", "call"),
        ("tests/test_login.py::test_a[postgresql]", "call"),
        ("tests/test_login.py::test_a[postgresql]", "setup"),
        ("tests/test_bearer.py::test_b[GET-/me-postgresql]", "call"),
        ("tests/test_config.py::test_c", "call"),
    ]:
        services.pytest_runtest_logreport(
            pytest.TestReport(nodeid, ("", 0, ""), {}, "passed", None, when)
        )
    assert services.tests_run == {"sqlite": 1, "postgresql": 2}
