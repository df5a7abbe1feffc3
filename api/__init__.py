"""Tessera: signed, expiring, revocable bearer tokens on plain Flask."""

from __future__ import annotations

__version__ = "0.2.0"

import os
from typing import Any

from flask import Flask

from . import (
    attempts,
    audit,
    auth,
    client_info,
    commands,
    database,
    docs,
    dumping,
    encryption,
    headers,
    health,
    keys,
    metrics,
    openapi,
    passwords,
    resources,
    routing,
    security,
    tokens,
)
from .config import load_config
from .errors import register_error_handlers

__all__ = ["create_app"]


def create_app(config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, errors and CLI."""
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, config)
    keys.configure_signing_keys(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    commands.init_app(app)
    return app


def register_extensions(app: Flask) -> None:
    client_info.init_app(app)
    audit.init_app(app)
    metrics.init_app(app)  # before the others' hooks: it times and counts every answer
    headers.init_app(app)
    dumping.init_app(app)
    routing.init_app(app)
    database.init_app(app)
    passwords.init_app(app)
    tokens.init_app(app)
    encryption.init_app(app)
    security.init_app(app)
    attempts.init_app(app)


def register_blueprints(app: Flask) -> None:
    api = openapi.init_app(app)
    api.register_blueprint(auth.blp)
    api.register_blueprint(resources.blp)
    api.register_blueprint(health.blp)
    docs.init_app(app)
