"""gunicorn's production settings for Tessera, read from the project root:

    gunicorn -b 0.0.0.0:8000 'api:create_app()'

Options on the command line win over this file (``-w 4`` sets the workers). Tessera's own
configuration (``SECRET_KEY``, ``DATABASE_URL``, ``REDIS_URL``, ``TRUSTED_PROXIES``...) comes
from the environment or ``instance/config.py``, as for every other way of running it.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile


def _cpu_count() -> int:
    """CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity call
        return os.cpu_count() or 1


def _app_config() -> dict:
    """The app's configuration as it will see it: defaults, instance file, environment."""
    from flask import Flask

    from api.config import load_config

    app = Flask("api", instance_relative_config=True)
    load_config(app, None)
    return app.config


_config = _app_config()


# Sync workers answer one request at a time: twice the CPUs plus one keeps the CPUs busy
# while some workers wait on the database. WEB_CONCURRENCY overrides, as on most PaaS.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cpu_count() + 1)
worker_class = "sync"
# Each worker builds its own app and database pool after the fork; nothing is shared.
preload_app = False

# A worker silent for 30 s is killed and replaced; a restart lets requests in flight finish.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so a slow leak can never take a host down.
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

# gunicorn's runtime control socket ($HOME/.gunicorn/gunicorn.ctl) is one more thing to
# secure and would be shared by every server on the host; Tessera needs none.
control_socket_disable = True

# GET /metrics adds up every worker's counts with prometheus_client's multiprocess mode: each
# worker writes its values to files in PROMETHEUS_MULTIPROC_DIR, which must be set before any
# worker starts and be empty at each start. Unset, the server makes a private one for its life.
metrics_enabled = bool(_config["METRICS_ENABLED"])
_made_metrics_directories: list[str] = []


def on_starting(server) -> None:
    """Give the workers to come one empty directory for their metrics."""
    if not metrics_enabled:
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
    else:
        directory = tempfile.mkdtemp(prefix="tessera-metrics-")
        _made_metrics_directories.append(directory)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def child_exit(server, worker) -> None:
    """Forget a dead worker's live gauges; what it counted still counts."""
    if metrics_enabled:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """Remove the metrics directory this server made."""
    while _made_metrics_directories:
        shutil.rmtree(_made_metrics_directories.pop(), ignore_errors=True)
