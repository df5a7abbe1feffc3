"""GET /metrics: off by default, Prometheus text for allowed networks only, right across workers."""

from __future__ import annotations

import http.client
import os
import runpy
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families
from support import ROOT
from support.servers import Deployment, Server

from api import create_app

OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}
REQUESTS = "tessera_http_requests_total"


@pytest.fixture
def metrics_on(config):
    """Turn metrics on in the test app's configuration (ask for it before ``client``)."""
    config["METRICS_ENABLED"] = True
    return config


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def scrape(client, **kwargs) -> dict:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    return samples(response.get_data(as_text=True))


def test_metrics_are_off_by_default_and_the_path_is_like_any_missing_page(app, client):
    missing = client.get("/no-such-page")
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json() == missing.get_json()
    hooks = [*app.before_request_funcs.get(None, []), *app.after_request_funcs.get(None, [])]
    assert all(hook.__module__ != "api.operations.metrics" for hook in hooks)


def test_a_loopback_scrape_is_prometheus_text_counting_by_endpoint_and_status(
    metrics_on, client, make_user, login
):
    make_user("alice")
    alice = login("alice")  # POST /login, then GET /me
    client.post("/login", json={"username": "alice", "password": "wrong password"})
    client.get("/notes/123456", headers=alice.headers)  # 404 from a rule with an id
    client.get("/no/such/page")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    scraped = samples(response.get_data(as_text=True))
    assert value(scraped, REQUESTS, endpoint="auth.login", method="POST", status="200") == 1
    assert value(scraped, REQUESTS, endpoint="auth.login", method="POST", status="401") == 1
    assert value(scraped, REQUESTS, endpoint="resources.get_me", method="GET", status="200") == 1
    assert value(scraped, REQUESTS, endpoint="resources.get_note", method="GET", status="404") == 1
    assert value(scraped, REQUESTS, endpoint="none", method="GET", status="404") == 1
    assert value(scraped, "tessera_http_request_duration_seconds_count", endpoint="auth.login") == 2
    assert value(scraped, "tessera_logins_total", outcome="success") == 1
    assert value(scraped, "tessera_logins_total", outcome="failure") == 1
    labels = {v for _, pairs in scraped for _, v in pairs}
    assert not any("/" in label for label in labels), "a raw path became a label"

    again = scrape(client)
    assert value(again, REQUESTS, endpoint="metrics.metrics", method="GET", status="200") == 1


def test_refresh_reuse_and_rate_limit_refusals_are_counted(clock, metrics_on, client, alice):
    body = {"refresh_token": alice.refresh_token}
    assert client.post("/refresh", json=body).status_code == 200
    clock.shift(11)  # past REFRESH_REUSE_LEEWAY: a reuse, not a race
    assert client.post("/refresh", json=body).status_code == 401  # reuse: the session ends
    wrong = {"username": "alice", "password": "wrong password"}
    statuses = [client.post("/login", json=wrong).status_code for _ in range(12)]
    assert 429 in statuses

    scraped = scrape(client)
    assert value(scraped, "tessera_refresh_token_reuse_total") == 1
    refused = value(scraped, "tessera_rate_limited_total", counter="address") + value(
        scraped, "tessera_rate_limited_total", counter="username"
    )
    assert refused >= statuses.count(429)
    assert value(scraped, "tessera_logins_total", outcome="failure") == statuses.count(401)


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE", "OPTIONS"])
def test_a_client_outside_the_allowed_networks_gets_the_404_of_a_missing_page(
    metrics_on, client, method
):
    missing = client.open("/no-such-page", method=method, environ_base=OUTSIDE)
    response = client.open("/metrics", method=method, environ_base=OUTSIDE)
    assert response.status_code == 404
    assert response.get_data() == missing.get_data()
    assert "Allow" not in response.headers


def test_loopback_in_every_form_may_scrape_and_other_methods_get_405(metrics_on, client):
    for address in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code == 200
    refused = client.post("/metrics")
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET, HEAD"


@pytest.fixture
def other_networks(metrics_on):
    metrics_on["METRICS_ALLOWED_NETWORKS"] = ["10.0.0.0/8", "2001:db8::/32"]


def test_the_allowed_networks_come_from_the_configuration(other_networks, client):
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed
    for address in ("10.1.2.3", "2001:db8::5"):
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "11.0.0.1"}).status_code == 404


def test_the_environment_turns_metrics_on_and_names_the_networks(config, tmp_path, monkeypatch):
    monkeypatch.setenv("METRICS_ENABLED", "true")
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", "192.0.2.0/24, ::1")
    app = create_app(config, instance_path=str(tmp_path / "env"))
    assert app.config["METRICS_ENABLED"] is True
    assert app.config["METRICS_ALLOWED_NETWORKS"] == ["192.0.2.0/24", "::1"]


def test_a_network_that_is_not_one_stops_the_start_with_a_clear_message(config, tmp_path):
    config.update(METRICS_ENABLED=True, METRICS_ALLOWED_NETWORKS=["10.0.0.1/8"])
    with pytest.raises(RuntimeError, match=r"METRICS_ALLOWED_NETWORKS must be a .* networks"):
        create_app(config, instance_path=str(tmp_path / "bad"))


def _gunicorn_hooks(monkeypatch, **environment: str) -> dict:
    """gunicorn.conf.py's module namespace, read under ``environment``."""
    for name, text in environment.items():
        monkeypatch.setenv(name, text)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_makes_a_metrics_directory_for_its_life_when_none_is_named(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    hooks = _gunicorn_hooks(monkeypatch, METRICS_ENABLED="true")
    hooks["on_starting"](None)
    directory = os.environ.pop("PROMETHEUS_MULTIPROC_DIR")
    assert Path(directory).is_dir()
    hooks["on_exit"](None)
    assert not Path(directory).exists()


def test_gunicorn_empties_the_named_metrics_directory_at_start(monkeypatch, tmp_path):
    (tmp_path / "counter_12345.db").write_bytes(b"stale")
    hooks = _gunicorn_hooks(
        monkeypatch, METRICS_ENABLED="true", PROMETHEUS_MULTIPROC_DIR=str(tmp_path)
    )
    hooks["on_starting"](None)
    hooks["on_exit"](None)
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


def test_gunicorn_leaves_the_environment_alone_with_metrics_off(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("METRICS_ENABLED", raising=False)
    _gunicorn_hooks(monkeypatch)["on_starting"](None)
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


# Under real gunicorn, two workers: each scrape adds up what both counted.


def _get(port: int, path: str) -> tuple[int, bytes]:
    """One request on a fresh connection, so any worker may take it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _health_count(scraped: dict) -> float:
    return value(scraped, REQUESTS, endpoint="health.health", method="GET", status="200")


def _served_by_each_worker(directory: Path) -> dict[int, float]:
    """GET /health 200s per worker, read from each worker's own files, collected alone."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        alone = directory.parent / f"worker-{pid}"
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(alone))
        labels = {"endpoint": "health.health", "method": "GET", "status": "200"}
        counts[pid] = registry.get_sample_value(REQUESTS, labels) or 0.0
    return counts


@pytest.fixture(params=["gunicorn", "granian"])
def two_workers(request, tmp_path):
    """A server with 2 workers and metrics on, its metrics directory holding a previous run's
    file; the server, started."""
    metrics_directory = tmp_path / "metrics"
    metrics_directory.mkdir()
    (metrics_directory / "counter_99999.db").write_bytes(b"a previous run's")
    settings = {"METRICS_ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(metrics_directory)}
    deployment = Deployment(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path, settings=settings)
    deployment.prepare()
    server = Server(deployment, "metrics", workers=2, server=request.param)
    try:
        # Ready once it answers and both workers have made their metrics (a file each).
        server.start(
            ready=lambda: (
                sorted(_workers_with_files(metrics_directory)) == sorted(server.pids()[1:])
            )
        )
        yield server, metrics_directory
    finally:
        server.close()


def _workers_with_files(directory: Path) -> list[int]:
    return [int(path.stem.rpartition("_")[2]) for path in directory.glob("counter_*.db")]


@pytest.mark.slow
def test_under_either_server_a_scrape_adds_up_the_requests_of_both_workers(two_workers):
    server, directory = two_workers
    port = server.port

    def scrape_over_http() -> dict:
        status, body = _get(port, "/metrics")
        assert status == 200
        return samples(body.decode())

    before = _health_count(scrape_over_http())
    sent = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        # Four clients at once, so both workers take some; more rounds until both have.
        while sent < 20 or (sent < 200 and 0 in _served_by_each_worker(directory).values()):
            statuses = list(pool.map(lambda _: _get(port, "/health")[0], range(20)))
            assert statuses == [200] * 20
            sent += 20
    after = _health_count(scrape_over_http())
    assert after - before == sent

    served = _served_by_each_worker(directory)
    assert sorted(served) == sorted(server.pids()[1:])  # the previous run's file went at start
    assert all(count > 0 for count in served.values()), served
    assert sum(served.values()) == after, served
