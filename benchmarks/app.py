"""The apps the benchmark measures: Tessera as production runs it, plus a bare JSON route, and
the floor every ratio is taken against: the same JSON from a plain Flask app of its own.

This module imports nothing but the app, so that gunicorn can load it on its own:
``benchmarks.app:http_app(instance_path=...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from api import create_app

BARE_PATH = "/bench/bare"
# Generous enough that the benchmark's own failed logins and mail requests are never throttled.
NO_THROTTLE = "1000000 per minute"


def app_config(database_url: str, secret_key: str) -> dict[str, Any]:
    """Production settings (OWASP Argon2id), with the throttling of failed logins and of mail
    requests out of the way, and sign-up open to anyone.

    ``MAIL_URL`` stays unset: the mail cases point it at a mail server of their own while the
    rounds run (``in_process.slow_mail_server``).
    """
    return {
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "LOGIN_RATE_LIMIT": NO_THROTTLE,
        "MAIL_RATE_LIMIT": NO_THROTTLE,
        "SIGNUP_POLICY": "open",
    }


def bare():
    return {"status": "ok"}


def add_bare_route(app: Flask) -> None:
    """Register Tessera's ceiling: a JSON route with no auth, no schema and no database, under
    every hook and middleware the app has."""
    app.add_url_rule(BARE_PATH, "bench_bare", bare)


def plain_flask_app() -> Flask:
    """The floor: a Flask app with nothing but the bare route (no Tessera at all)."""
    app = Flask("plain_flask")
    app.add_url_rule(BARE_PATH, "bench_bare", bare)
    return app


def build_app(database_url: str, secret_key: str, instance: Path) -> Flask:
    """Create the app as production would, plus the bare route."""
    app = create_app(app_config(database_url, secret_key), instance_path=str(instance))
    add_bare_route(app)
    return app


def http_app(instance_path: str) -> Flask:
    """The gunicorn entry point: the app from the environment, plus the bare route."""
    app = create_app(instance_path=instance_path)
    add_bare_route(app)
    return app
