"""The settings production gunicorn runs with (``api/gunicorn_settings.py``, which the clone's
``gunicorn.conf.py`` reads), loaded as gunicorn loads them."""

from __future__ import annotations

import os
import runpy
import sys
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from support import ROOT
from support.accounts import PASSWORD
from support.loopback import call
from support.servers import deployment_for, servers

from api.config import SETTINGS
from api.http import request_deadline

SETTINGS_MODULE = "api.gunicorn_settings"


def settings() -> dict:
    """The packaged settings module's names, read afresh (as ``-c python:...`` reads them)."""
    return runpy.run_module(SETTINGS_MODULE)


def gunicorn_config(monkeypatch, **environment: str) -> Config:
    """Load the packaged settings under ``environment`` into gunicorn's own, validated ones."""
    for name in ("TRUSTED_PROXIES", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return _validated(settings())


def _validated(names: dict) -> Config:
    config = Config()
    for name, value in names.items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_the_clones_gunicorn_conf_py_is_the_packaged_settings(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    from_file = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    packaged = settings()
    assert {name for name in packaged if not name.startswith("__")} <= set(from_file)
    file_config, packaged_config = _validated(from_file), _validated(packaged)
    for name in Config().settings:
        value = getattr(packaged_config, name)
        if not callable(value):  # hooks and classes: the same code, made by each reading
            assert getattr(file_config, name) == value, name
    assert file_config.workers == 3  # read afresh: the environment of this reading counts
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert _validated(runpy.run_path(str(ROOT / "gunicorn.conf.py"))).workers == 2


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_a_setting_the_app_cannot_use_stops_gunicorn_before_any_worker(monkeypatch, setting):
    monkeypatch.setenv(setting.name, setting.bad)
    with pytest.raises(SystemExit) as stopped:
        settings()
    assert stopped.value.code == f"error: {setting.refusal}"


def test_workers_default_to_one_per_cpu_without_redis(monkeypatch):
    cpus = len(os.sched_getaffinity(0))
    config = gunicorn_config(monkeypatch)
    assert config.workers == cpus
    assert config.worker_class_str == "gevent" and config.worker_connections == 1000
    assert gunicorn_config(monkeypatch, WEB_CONCURRENCY="3").workers == 3


def test_workers_default_to_one_per_cpu_with_redis(monkeypatch):
    cpus = len(os.sched_getaffinity(0))
    config = gunicorn_config(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0")
    assert config.workers == cpus
    assert gunicorn_config(monkeypatch, WEB_CONCURRENCY="3").workers == 3


def test_several_workers_without_redis_need_no_warning_at_start(monkeypatch, tmp_path):
    # The counters are in the database every worker shares: several workers are exact too.
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    hooks = settings()
    warnings, said = [], []

    class Server:
        class cfg:
            workers = 3

        class log:
            @staticmethod
            def warning(message, *args):
                warnings.append(message % args)

            @staticmethod
            def info(message, *args):
                said.append(message % args)

    hooks["when_ready"](Server)
    Server.cfg.workers = 1
    hooks["when_ready"](Server)
    assert warnings == []
    # Where the data lives, said at each start.
    expected = f"instance folder: {tmp_path}, database: sqlite:///{tmp_path / 'tessera.db'}"
    assert said == [expected, expected]


def test_a_request_head_has_the_seconds_a_body_has_before_its_minimum_rate(monkeypatch):
    # The gevent worker closes a connection whose next request head is not whole by then.
    assert gunicorn_config(monkeypatch).keepalive == request_deadline.GRACE_SECONDS == 10


@pytest.mark.parametrize(
    ("environment", "allowed"),
    [
        ({}, []),
        ({"TRUSTED_PROXIES": "0"}, []),
        ({"TRUSTED_PROXIES": "1"}, ["*"]),
        ({"TRUSTED_PROXIES": "2", "FORWARDED_ALLOW_IPS": "10.0.0.5"}, ["10.0.0.5"]),
    ],
)
def test_forwarded_headers_are_trusted_exactly_when_the_app_trusts_proxies(
    monkeypatch, environment, allowed
):
    assert gunicorn_config(monkeypatch, **environment).forwarded_allow_ips == allowed


def test_the_access_log_format_has_no_field_that_can_carry_a_credential(monkeypatch):
    config = gunicorn_config(monkeypatch)
    log_format = config.access_log_format
    for atom in ("%(r)s", "%(q)s", "%(u)s", "%(f)s"):  # request line, query, user, referer
        assert atom not in log_format
    for header in ("{authorization}", "{cookie}", "{referer}"):
        assert header not in log_format.lower()
    assert '"%(m)s %(U)s %(H)s"' in log_format  # method and path, without the query
    assert config.timeout == 30
    assert config.control_socket_disable is True


def test_a_lone_worker_is_never_recycled_but_one_of_several_is(monkeypatch):
    config = gunicorn_config(monkeypatch)
    assert config.max_requests == 10000 and config.max_requests_jitter == 1000
    post_fork = settings()["post_fork"]

    class Worker:
        max_requests = 10500

    for workers, kept in ((1, sys.maxsize), (2, 10500), (4, 10500)):
        worker = Worker()
        post_fork(SimpleNamespace(num_workers=workers), worker)
        assert worker.max_requests == kept


@pytest.mark.slow
def test_a_lone_worker_serves_past_max_requests_without_a_restart(tmp_path):
    with deployment_for("sqlite", tmp_path) as deployment:
        deployment.prepare(password=PASSWORD)
        options = ["--max-requests", "20", "--max-requests-jitter", "0"]
        with servers(deployment, 1, options=options) as (server,):
            workers = server.pids()[1:]
            for _ in range(60):
                assert call(server.port, "GET", "/health").status == 200
            assert server.pids()[1:] == workers
    assert "Autorestarting worker" not in server.log()
