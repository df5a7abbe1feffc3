"""What both production servers' settings share (``api/gunicorn_settings.py`` and
``api/granian_settings.py``): the configuration checked before any worker is made, one process
per CPU, room for every connection, and access-log fields that cannot forge a line."""

from __future__ import annotations

import glob
import os
import re
import resource
import sys
import tempfile

from flask import Flask

from api.config import ConfigError, instance_app, load_config

# Descriptors a worker needs beside its connections: database, log and metrics files, pipes.
OTHER_OPEN_FILES = 1024

_UNPRINTABLE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')


def cpu_count() -> int:
    """CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity call
        return os.cpu_count() or 1


def default_workers() -> int:
    """One process per CPU; ``WEB_CONCURRENCY`` overrides."""
    return int(os.environ.get("WEB_CONCURRENCY") or cpu_count())


def configured_app() -> Flask:
    """An app holding the configuration as the workers' will: defaults, instance file,
    environment, all checked. A setting it cannot use ends the server here with one line and
    exit 1 (``SystemExit`` passes a server's handlers, which would print a traceback)."""
    try:
        app = instance_app()
        load_config(app, None)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    return app


def raise_open_files_limit(connections: int) -> int:
    """Let each process hold ``connections`` sockets beside its files: raise the soft limit on
    open files (often 1,024, which 1,000 connections would reach) as far as the hard one
    allows, never lower it; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + OTHER_OPEN_FILES
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft


def escape_log_value(value: str) -> str:
    """Escape what could forge or split a log line: controls (CR, LF, NEL...), quote, backslash."""
    return _UNPRINTABLE.sub(lambda match: f"\\x{ord(match.group()):02x}", value)


def fresh_metrics_directory() -> str | None:
    """Give the workers one empty directory for their metrics files, before any starts.

    prometheus_client's multiprocess mode adds up every worker's files at each scrape, so the
    directory must be named before the first worker and hold no other run's files. The one
    ``PROMETHEUS_MULTIPROC_DIR`` names is emptied; unset, one is made and named there, and
    returned for the server to remove at exit (None otherwise).
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
        return None
    directory = tempfile.mkdtemp(prefix="tessera-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory
