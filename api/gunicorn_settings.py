"""gunicorn's production settings for Tessera, shipped in the package:

    gunicorn -c python:api.gunicorn_settings -b 0.0.0.0:8000 'api:create_app()'

(from a clone, ``gunicorn.conf.py`` reads this module, so a bare ``gunicorn 'api:create_app()'``
there gets them too). Options on the command line win over these (``-w 4`` sets the workers).
Tessera's own configuration (``SECRET_KEY``, ``DATABASE_URL``, ``REDIS_URL``,
``TRUSTED_PROXIES``...) comes from the environment or ``instance/config.py``, as for every other
way of running it; a setting the app cannot use stops the start here, in one line, before any
worker is made.
"""

from __future__ import annotations

import os
import shutil
import sys

from gunicorn import glogging

from api.config import describe_instance
from api.serving import (
    configured_app,
    default_workers,
    escape_log_value,
    fresh_metrics_directory,
    raise_open_files_limit,
)

_app = configured_app()
_config = _app.config

# gevent workers: each connection is a greenlet, not a thread, so a client that trickles its
# request holds a few kilobytes and never a thread the others need (a threaded worker is held
# whole by as many trickling heads as it has threads). Up to worker_connections at once; those
# past it wait in the listen queue. Argon2 hashes run on gevent's threads, so a login never
# stops the loop (api/event_loop.py); the body's deadline is the app's to keep
# (api/http/request_deadline.py), the head's is ``keepalive`` below.
worker_class = "gevent"
worker_connections = 1000
# One process per CPU: every process counts failed attempts on the same rows of the database
# (or in Redis), so the limits are exact whatever the number. WEB_CONCURRENCY (as on most
# PaaS) or -w overrides.
workers = default_workers()
# Each worker builds its own app and database pool after the fork; nothing is shared.
preload_app = False

# A worker silent for 30 s is killed and replaced; a restart lets requests in flight finish.
timeout = 30
graceful_timeout = 30
# The request head's deadline (API.md "Conventions"): a gevent worker gives each request head,
# from the connection's opening or the previous answer, this long to arrive whole, then closes
# the connection unanswered. An idle keep-alive connection is closed after as long.
keepalive = 10
# Recycle workers now and then, staggered, so a slow leak can never take a host down; but
# never a lone worker (``post_fork``): while it exits and its successor boots, nobody serves.
max_requests = 10000
max_requests_jitter = 1000

# Requests the app never sees: over-long request lines and headers get gunicorn's own 4xx.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Trust X-Forwarded-* exactly when the app does: with TRUSTED_PROXIES = 0 no peer may set
# the scheme or forwarding headers; behind proxies, the peers FORWARDED_ALLOW_IPS names,
# or any peer (the hosts are then reachable only through the load balancer).
behind_proxies = int(_config["TRUSTED_PROXIES"]) > 0
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*") if behind_proxies else ""

# The access log goes to stdout, the error log and the audit log to stderr. The access line
# holds no header that can carry a credential (Authorization, Cookie, Referer), no query
# string (a token there would be written down) and no Basic-auth user name.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = "info"
access_log_format = (
    '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" xff="%({x-forwarded-for}i)s"'
)


class EscapingLogger(glogging.Logger):
    """gunicorn's logger, with every access-log field escaped: ``%0d%0a`` in a path (decoded
    by the server) or in a User-Agent cannot start a forged line."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: escape_log_value(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }


logger_class = EscapingLogger


def when_ready(server) -> None:
    """Say once at start where the data lives."""
    server.log.info("%s", describe_instance(_app))


def post_fork(server, worker) -> None:
    """Keep a lone worker for good: recycling it would stop the whole service for a boot
    (about 0.4 s under load, every ~10,000 requests). Decided at each spawn, so ``-w``,
    ``TTIN``/``TTOU`` and a reload are all seen."""
    if server.num_workers == 1:
        worker.max_requests = sys.maxsize


# gunicorn's runtime control socket ($HOME/.gunicorn/gunicorn.ctl) is one more thing to
# secure and would be shared by every server on the host; Tessera needs none.
control_socket_disable = True

# GET /metrics adds up every worker's counts with prometheus_client's multiprocess mode: each
# worker writes its values to files in PROMETHEUS_MULTIPROC_DIR, which must be set before any
# worker starts and be empty at each start. Unset, the server makes a private one for its life.
metrics_enabled = bool(_config["METRICS_ENABLED"])
_made_metrics_directories: list[str] = []


def on_starting(server) -> None:
    """Give the workers to come room for their connections and one empty metrics directory."""
    raise_open_files_limit(worker_connections)
    if not metrics_enabled:
        return
    made = fresh_metrics_directory()
    if made:
        _made_metrics_directories.append(made)


def child_exit(server, worker) -> None:
    """Forget a dead worker's live gauges; what it counted still counts."""
    if metrics_enabled:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """Remove the metrics directory this server made."""
    while _made_metrics_directories:
        shutil.rmtree(_made_metrics_directories.pop(), ignore_errors=True)
