"""What ``api/granian_settings.py`` promises: the configuration checked before any worker, one
worker per CPU, the head's deadline, an access log nobody can forge, one metrics directory for
every worker, secrets kept out of each request, and a dead worker replaced."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest
from granian.constants import HTTPModes, Interfaces
from support.accounts import PASSWORD
from support.loopback import call
from support.servers import deployment_for, servers

from api import granian_settings
from api.config import SETTINGS
from api.http import request_deadline

REQUESTS = "tessera_http_requests_total"
HEALTH = {"endpoint": "health.health", "method": "GET", "status": "200"}


def options(monkeypatch, *argv: str, **environment: str) -> dict:
    """What ``Granian`` would be made with, for ``argv`` under ``environment``."""
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return granian_settings.granian_options(granian_settings.parse_arguments(argv))


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_a_setting_the_app_cannot_use_stops_granian_before_any_worker(
    monkeypatch, tmp_path, setting
):
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv(setting.name, setting.bad)
    with pytest.raises(SystemExit) as stopped:
        granian_settings.configured_app()
    assert stopped.value.code == f"error: {setting.refusal}"


def test_workers_default_to_one_per_cpu(monkeypatch):
    cpus = len(os.sched_getaffinity(0))
    assert options(monkeypatch)["workers"] == cpus
    assert options(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3
    assert options(monkeypatch, "--workers", "5", WEB_CONCURRENCY="3")["workers"] == 5


def test_the_app_is_served_over_wsgi_and_http1_on_the_address_given(monkeypatch):
    served = options(monkeypatch, "--bind", "[::1]:9000", "--app", "benchmarks.app:http_app")
    assert served["interface"] == Interfaces.WSGI and served["http"] == HTTPModes.http1
    assert (served["address"], served["port"]) == ("::1", 9000)
    assert served["target"] == "benchmarks.app:http_app"
    default = options(monkeypatch)
    assert (default["address"], default["port"], default["target"]) == (
        "127.0.0.1",
        8000,
        "api:create_app",
    )
    assert default["blocking_threads"] == granian_settings.BLOCKING_THREADS >= 2
    assert default["respawn_failed_workers"] is True


def test_a_request_head_has_the_seconds_a_body_has_before_its_minimum_rate(monkeypatch):
    # granian closes a connection whose next request head is not whole by then.
    head_timeout = options(monkeypatch)["http1_settings"].header_read_timeout
    assert head_timeout == request_deadline.GRACE_SECONDS * 1000 == 10_000


def test_the_access_log_format_has_no_field_that_can_carry_a_credential():
    log_format = granian_settings.ACCESS_LOG_FORMAT
    assert "query_string" not in log_format
    for header in ("{authorization}", "{cookie}", "{referer}"):
        assert header not in log_format.lower()
    assert '"%(method)s %(path)s %(protocol)s"' in log_format  # method and path, no query


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("/notes/1\r\n127.0.0.1 - forged", "/notes/1\\x0d\\x0a127.0.0.1 - forged"),
        ('agent" injected="1', "agent\\x22 injected=\\x221"),
    ],
)
def test_granian_s_access_lines_are_escaped_field_by_field(raw, logged):
    # The access formatter the logging configuration names, fed as granian's access logger
    # feeds it: the format, and one mapping of the request's fields.
    access = granian_settings.logging_config()["formatters"]["access"]
    formatter = access["()"](fmt=access["fmt"])
    fields = {"path": raw, "_h0": raw, "status": 200}  # _h0: the first header the format names
    line = '"%(path)s" "%(_h0)s" %(status)d'
    record = logging.LogRecord("granian.access", logging.INFO, __file__, 0, line, (fields,), None)
    assert formatter.format(record) == f'"{logged}" "{logged}" 200'


def test_a_request_carries_none_of_the_process_environment():
    process = {"SECRET_KEY": "k" * 64, "HTTP_PROXY": "http://proxy:3128", "PATH_INFO": "/x"}
    # granian's environ: the process's environment, then the request's own names over it.
    request = {"REQUEST_METHOD": "GET", "PATH_INFO": "/health", "HTTP_X_REQUEST_ID": "7"}
    seen = []

    def app(environ, start_response):
        seen.append(dict(environ))
        return []

    granian_settings.WithoutProcessEnvironment(app, process)({**process, **request}, None)
    assert seen == [request]


def test_a_metrics_directory_is_made_for_the_server_s_life_when_none_is_named(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with granian_settings.metrics_directory(True) as directory:
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == directory
        assert Path(directory).is_dir()
    assert not Path(directory).exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_the_named_metrics_directory_is_emptied_at_start(monkeypatch, tmp_path):
    (tmp_path / "counter_12345.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with granian_settings.metrics_directory(True) as directory:
        assert directory == str(tmp_path) and list(tmp_path.iterdir()) == []
    assert tmp_path.is_dir()  # the operator's: kept


def test_metrics_off_leave_the_environment_alone(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with granian_settings.metrics_directory(False) as directory:
        assert directory is None
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


# Real granian servers, launched as the tests' other servers are.


@pytest.mark.slow
def test_the_start_says_where_the_data_lives_and_makes_one_worker_per_cpu(tmp_path):
    with deployment_for("sqlite", tmp_path) as deployment:
        deployment.settings["WEB_CONCURRENCY"] = ""  # as the settings decide
        deployment.prepare()
        with servers(deployment, 1, workers=None, server="granian") as (server,):
            workers = server.pids()[1:]
        instance = deployment.instance_path / "instance"
        said = f"instance folder: {instance}, database: {deployment.database_url}"
    assert len(workers) == len(os.sched_getaffinity(0))
    assert said in server.log()


@pytest.mark.slow
def test_the_factory_given_is_served(tmp_path):
    """The benchmark serves Tessera plus a bare route this way."""
    with deployment_for("sqlite", tmp_path) as deployment:
        deployment.prepare()
        factory = "benchmarks.app:http_app"
        with servers(deployment, 1, factory=factory, server="granian") as (server,):
            assert call(server.port, "GET", "/bench/bare").body == {"status": "ok"}
            assert call(server.port, "GET", "/health").status == 200


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced(tmp_path):
    with deployment_for("sqlite", tmp_path) as deployment:
        deployment.prepare(password=PASSWORD)
        with servers(deployment, 1, workers=2, server="granian") as (server,):
            first, second = server.pids()[1:]
            os.kill(first, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while len(server.pids()) < 3 or first in server.pids():
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.1)
            assert server.process.poll() is None
            replacement = (set(server.pids()[1:]) - {second}).pop()
            assert call(server.port, "GET", "/health").status == 200
    assert replacement != first
    assert "Respawning worker-" in server.log()
