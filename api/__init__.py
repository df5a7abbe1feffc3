"""Tessera: signed, expiring, revocable bearer tokens on plain Flask."""

from __future__ import annotations

__version__ = "0.3.0"

import os
from typing import Any

from flask import Flask

from api import audit_writer, auth, commands, database, resources, security
from api.config import instance_app, load_config
from api.credentials import (
    failed_attempts,
    jti_replay,
    mail_throttle,
    passwords,
    secret_box,
    signed_tokens,
    signing_keys,
)
from api.errors import register_error_handlers
from api.http import (
    client_info,
    cors,
    docs,
    dumping,
    headers,
    openapi,
    passkeys_page,
    request_deadline,
    routing,
)
from api.operations import health, metrics
from api.services import mail_delivery

__all__ = ["create_app"]


def create_app(config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, errors and CLI.

    The instance folder is ``instance_path``, else ``TESSERA_INSTANCE_PATH`` (``api.config``).
    """
    app = instance_app(instance_path)
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, config)
    signing_keys.configure_signing_keys(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    commands.init_app(app)
    return app


def register_extensions(app: Flask) -> None:
    client_info.init_app(app)
    audit_writer.init_app(app)
    metrics.init_app(app)  # before the others' hooks: it times and counts every answer
    request_deadline.init_app(app)  # before headers, so that its 408 gets them too
    headers.init_app(app)
    cors.init_app(app)  # after request_deadline: its 408 is readable cross-origin too
    dumping.init_app(app)
    routing.init_app(app)
    database.init_app(app)
    passwords.init_app(app)
    signed_tokens.init_app(app)
    secret_box.init_app(app)
    security.init_app(app)
    failed_attempts.init_app(app)
    mail_throttle.init_app(app)  # after failed_attempts: it counts in the same store
    mail_delivery.init_app(app)
    jti_replay.init_app(app)


def register_blueprints(app: Flask) -> None:
    api = openapi.init_app(app)
    api.register_blueprint(auth.blp)
    api.register_blueprint(resources.blp)
    api.register_blueprint(health.blp)
    docs.init_app(app)
    passkeys_page.init_app(app)
