"""granian's production settings for Tessera, and the command that serves the app with them:

    python -m api.granian_settings --bind 0.0.0.0:8000

One process per CPU (``WEB_CONCURRENCY`` or ``--workers`` overrides), each running the WSGI
app on a pool of Python threads behind granian's HTTP/1.1 server (Rust). A request head has 10
seconds, as under gunicorn; a body's deadline is seen only once a read of it returns, so a body
that trickles holds a thread (``BLOCKING_THREADS``). Tessera's own configuration
(``SECRET_KEY``, ``DATABASE_URL``, ``TESSERA_INSTANCE_PATH``...) comes from the environment or
``instance/config.py``, as for every other way of running it; a setting the app cannot use
stops the start here, in one line, before any worker is made.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LOGGING_CONFIG

from api.config import describe_instance
from api.http.request_deadline import GRACE_SECONDS
from api.serving import (
    configured_app,
    default_workers,
    escape_log_value,
    fresh_metrics_directory,
    raise_open_files_limit,
)

DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_APP = "api:create_app"
# Python threads per worker that run the app; requests past them wait in granian's queue,
# which holds no thread. argon2-cffi lets go of the GIL, so a login's hash holds one thread
# while the others answer. A request whose body trickles in holds its thread until the body
# has come or the client leaves: granian's reads cannot be cut short (the body's deadline is
# only seen once a read returns), so the threads are also how many such clients a worker
# bears before it stops answering. Measured with 2 workers and 8 connections on GET /me: 8
# and 32 threads serve alike, 64 about a fifth fewer requests, 128 about a third fewer.
BLOCKING_THREADS = 32
# The request head's deadline (API.md "Conventions"): a head not whole this long after the
# connection opened, or after the previous answer, closes the connection unanswered.
HEAD_TIMEOUT_MS = int(GRACE_SECONDS * 1000)
# A stop lets requests in flight finish for this long, then kills the workers.
GRACEFUL_SECONDS = 30
# Connections each worker takes at once (granian's backpressure); the rest wait in the queue.
WORKER_CONNECTIONS = 1000

# The access line holds no header that can carry a credential (Authorization, Cookie, Referer)
# and no query string (a token there would be written down); every field is escaped.
ACCESS_LOG_FORMAT = (
    '%(addr)s [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).0fms '
    '"%(header{user-agent})s" xff="%(header{x-forwarded-for})s"'
)

log = logging.getLogger(__name__)


class EscapingAccessFormatter(logging.Formatter):
    """granian's access lines with every field escaped: ``%0d%0a`` in a path (decoded by the
    server into ``PATH_INFO``) or a line break in a header cannot start a forged line."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.args, Mapping):
            record.args = {
                key: escape_log_value(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        return super().format(record)


def logging_config() -> dict[str, Any]:
    """granian's logging, with its own lines (and this module's) on stderr, the access lines
    on stdout, escaped, as gunicorn writes them."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["()"] = EscapingAccessFormatter
    config["handlers"]["console"]["stream"] = "ext://sys.stderr"
    config["loggers"][__name__] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    return config


@contextmanager
def metrics_directory(enabled: bool) -> Iterator[str | None]:
    """Give the workers one empty directory for their metrics files, for the server's life.

    prometheus_client's multiprocess mode adds up every worker's files at each scrape; the
    directory must be named before any worker starts and hold no other run's files. Named by
    ``PROMETHEUS_MULTIPROC_DIR``, it is emptied; unset, one is made here and removed at exit.
    No metric of the app is a live gauge, so a dead worker's files have nothing to forget.
    """
    if not enabled:
        yield None
        return
    made = fresh_metrics_directory()
    try:
        yield os.environ["PROMETHEUS_MULTIPROC_DIR"]
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


class WithoutProcessEnvironment:
    """WSGI middleware: take back out of each request's environ the process's environment,
    which granian copies into every one (``SECRET_KEY``, ``DATABASE_URL``...). No request then
    carries the secrets, and no variable named like a header (``HTTP_PROXY``) passes for a
    header the client sent. A name granian set for the request holds its own value, and stays.
    """

    def __init__(self, wsgi_app: Callable[..., Any], environment: Mapping[str, str]) -> None:
        self.wsgi_app = wsgi_app
        self.inherited = tuple(environment.items())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        for name, value in self.inherited:
            if environ.get(name) == value:
                del environ[name]
        return self.wsgi_app(environ, start_response)


def load_app(target: str, instance_path: str) -> Callable[..., Any]:
    """Call the factory ``target`` names (``module:function``) with the instance folder, in
    each worker once it has started, so no database pool is shared across processes."""
    module, _, function = target.partition(":")
    factory = getattr(importlib.import_module(module), function or "create_app")
    return WithoutProcessEnvironment(factory(instance_path=instance_path), dict(os.environ))


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6) as an address and a port."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--bind must be HOST:PORT, not {bind!r}")
    return host.strip("[]"), int(port)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m api.granian_settings", description="Serve Tessera with granian."
    )
    parser.add_argument(
        "--bind", type=parse_bind, default=DEFAULT_BIND, help=f"HOST:PORT ({DEFAULT_BIND})"
    )
    parser.add_argument("--workers", type=int, help="processes (WEB_CONCURRENCY, else one per CPU)")
    parser.add_argument(
        "--blocking-threads", type=int, default=BLOCKING_THREADS, help="Python threads a worker"
    )
    parser.add_argument(
        "--graceful-timeout",
        type=int,
        default=GRACEFUL_SECONDS,
        help="seconds a stop waits for requests in flight",
    )
    parser.add_argument(
        "--app", default=DEFAULT_APP, help=f"factory called with instance_path= ({DEFAULT_APP})"
    )
    return parser.parse_args(argv)


def granian_options(arguments: argparse.Namespace) -> dict[str, Any]:
    """What ``Granian`` is made with: the production settings, and the command line's."""
    host, port = arguments.bind
    return {
        "target": arguments.app,
        "address": host,
        "port": port,
        "interface": Interfaces.WSGI,
        "workers": arguments.workers or default_workers(),
        "blocking_threads": arguments.blocking_threads,
        "backpressure": WORKER_CONNECTIONS,
        # HTTP/1.1 alone, as a proxy speaks to it: the head's deadline is an HTTP/1 setting.
        "http": HTTPModes.http1,
        "http1_settings": HTTP1Settings(header_read_timeout=HEAD_TIMEOUT_MS),
        "websockets": False,
        "log_dictconfig": logging_config(),
        "log_access": True,
        "log_access_format": ACCESS_LOG_FORMAT,
        # A worker that dies is replaced, as gunicorn's arbiter replaces one, rather than the
        # whole server stopping.
        "respawn_failed_workers": True,
        "workers_kill_timeout": arguments.graceful_timeout,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Check the configuration, then serve until SIGTERM or SIGINT; SIGHUP replaces the
    workers one by one."""
    arguments = parse_arguments(argv)
    app = configured_app()
    raise_open_files_limit(WORKER_CONNECTIONS)
    server = Granian(**granian_options(arguments))
    server.on_startup(lambda: log.info("%s", describe_instance(app)))
    with metrics_directory(bool(app.config["METRICS_ENABLED"])):
        server.serve(target_loader=partial(load_app, instance_path=app.instance_path))


if __name__ == "__main__":
    main()
