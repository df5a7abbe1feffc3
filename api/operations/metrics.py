"""``GET /metrics``: Prometheus text format, answered only to the networks allowed to scrape it.

Off unless ``METRICS_ENABLED``: then nothing here runs, not even a request hook. On, it counts
each request by endpoint (the URL rule's name, never the raw path), method and status, times
it by endpoint, and counts the security events the audit log records (logins by outcome,
refresh-token reuse) and the refusals it does not record one by one (``refusal_tally``):
attempts refused with 429, by counter, and the other refusals that prove nothing (a token
that fails its form, signature or expiry), by event and reason.

Under gunicorn each worker is a process of its own. In prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, which gunicorn.conf.py sets before the workers start) each
worker keeps its values in files there, and a scrape, whichever worker answers it, adds up
every worker's. prometheus_client picks that mode when it is first imported, so it is
imported here only once the app turns metrics on, never while the master reads the config.

The endpoint takes no token: a client outside ``METRICS_ALLOWED_NETWORKS`` (loopback by
default) gets the 404 of a page that does not exist, whatever the method.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request

from api.audit_writer import event_recorded
from api.http.client_info import client_address
from api.operations.outbox_gauge import OutboxGauge
from api.refusal_tally import refusal_counted

EXTENSION = "tessera.metrics"
RATE_LIMIT_COUNTERS = ("address", "username", "account")
# Methods counted by name; anything else a client invents is one label value, "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

blp = Blueprint("metrics", __name__)


class Metrics:
    """One app's metrics, the registry that holds them, and who may read them."""

    def __init__(self, allowed_networks: Iterable[str]) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram

        self.content_type = CONTENT_TYPE_LATEST
        self.networks = _parse_networks(allowed_networks)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "tessera_http_requests",
            "HTTP requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tessera_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ["endpoint"],
            registry=registry,
        )
        self.logins = Counter(
            "tessera_logins", "Login attempts, by outcome.", ["outcome"], registry=registry
        )
        self.refresh_reuse = Counter(
            "tessera_refresh_token_reuse",
            "Spent refresh tokens presented again, each revoking its session.",
            registry=registry,
        )
        self.rate_limited = Counter(
            "tessera_rate_limited",
            "Attempts refused with 429, by counter: address or username (the failed-attempt"
            " limit), account (the second factor's delay).",
            ["counter"],
            registry=registry,
        )
        self.refusals = Counter(
            "tessera_refusals",
            "Refusals that prove nothing (a token that fails its form, signature or expiry;"
            " a TOTP code after the lockout), counted here instead of an audit row each.",
            ["event", "reason"],
            registry=registry,
        )
        registry.register(OutboxGauge())
        # Known label values from the start, so a rate of zero is a zero, not a gap.
        for outcome in ("success", "failure"):
            self.logins.labels(outcome)
        for counter in RATE_LIMIT_COUNTERS:
            self.rate_limited.labels(counter)

    def allows(self, address: str) -> bool:
        """Tell whether a client at ``address`` may read the metrics."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket's form of an IPv4 client
        return any(ip in network for network in self.networks)

    def count_event(self, record: dict[str, Any]) -> None:
        """Count one audit event, if it is one the metrics follow."""
        event, outcome = record["event"], record["outcome"]
        if event == "login":
            self.logins.labels(outcome).inc()
        elif event == "refresh_reuse":
            self.refresh_reuse.inc()

    def count_refusal(self, event: str, reason: str) -> None:
        """Count one refusal that wrote no audit row: a 429 by its counter, others by reason."""
        if event == "rate_limited":
            self.rate_limited.labels(reason).inc()
        else:
            self.refusals.labels(event, reason).inc()

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's values, or every worker's."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(OutboxGauge())  # from the database: the same in every worker
        return generate_latest(registry)


def _parse_networks(entries: Iterable[str] | str) -> tuple:
    if isinstance(entries, str):
        entries = entries.split(",")
    try:
        return tuple(ipaddress.ip_network(entry.strip()) for entry in entries if entry.strip())
    except ValueError as exc:
        raise RuntimeError(f"METRICS_ALLOWED_NETWORKS is not valid: {exc}") from None


@blp.route(
    "/metrics",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    provide_automatic_options=False,
)
def metrics() -> Response:
    """Serve the metrics in Prometheus text format to an allowed client; 404 to anyone else."""
    collected: Metrics = current_app.extensions[EXTENSION]
    if not collected.allows(client_address()):
        abort(404)
    if request.method not in {"GET", "HEAD"}:
        abort(405, valid_methods=["GET", "HEAD"])
    return Response(collected.exposition(), content_type=collected.content_type)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count_response(response: Response) -> Response:
    collected: Metrics = current_app.extensions[EXTENSION]
    endpoint = request.endpoint or "none"  # no rule matched: 404, or 405
    method = request.method if request.method in METHODS else "other"
    collected.requests.labels(endpoint, method, str(response.status_code)).inc()
    started = g.pop("metrics_started", None)
    if started is not None:
        collected.latency.labels(endpoint).observe(time.perf_counter() - started)
    return response


def _count_audit_event(sender: Flask, record: dict[str, Any]) -> None:
    sender.extensions[EXTENSION].count_event(record)


def _count_refusal(sender: Flask, event: str, reason: str) -> None:
    sender.extensions[EXTENSION].count_refusal(event, reason)


def init_app(app: Flask) -> None:
    """When ``METRICS_ENABLED``, register ``/metrics``, the request hooks and the event counts.

    Called before the other extensions register their hooks, so the timer starts before any
    of them can answer (a 413, a 429) and the count sees the status the client gets.
    """
    if not app.config["METRICS_ENABLED"]:
        return
    app.extensions[EXTENSION] = Metrics(app.config["METRICS_ALLOWED_NETWORKS"])
    app.register_blueprint(blp)
    app.before_request(_start_timer)
    app.after_request(_count_response)
    event_recorded.connect(_count_audit_event, sender=app)
    refusal_counted.connect(_count_refusal, sender=app)
