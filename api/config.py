"""Configuration: package defaults, then ``instance/config.py``, then the environment.

The defaults are the production ones, so forgetting to choose fails safe.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

ACCESS_TOKEN_MAX_AGE = 15 * 60
REFRESH_TOKEN_MAX_AGE = 14 * 24 * 3600
SESSION_MAX_AGE = 30 * 24 * 3600
# A refresh token spent this many seconds ago or less, presented again, is a client race
# (two tabs, a retry after a lost answer), not a theft: 0 treats every reuse as theft.
REFRESH_REUSE_LEEWAY = 10
# How recent a login must be for an operation marked fresh (RFC 9470's max_age).
REAUTH_MAX_AGE = 600
# Who must have a second factor: "none", "admins" or "all".
MFA_REQUIRED = "none"
mfa_policies = ("none", "admins", "all")  # lower case: not a setting
# How long the second step of a login may take: the mfa_token's and its challenge's lifetime.
MFA_TOKEN_MAX_AGE = 300
# The issuer an authenticator app shows beside the account name.
MFA_ISSUER = "Tessera"
# Fernet keys that encrypt TOTP secrets, newest first; unset: a key file in the instance folder.
MFA_ENCRYPTION_KEYS: list[str] = []
PERSONAL_TOKEN_DEFAULT_AGE = 30 * 24 * 3600
PERSONAL_TOKEN_MAX_AGE = 365 * 24 * 3600
DATABASE_URL: str | None = None  # default: SQLite file in the instance folder
REDIS_URL: str | None = None
TOKEN_QUERY_PARAM: str | None = None
LOGIN_RATE_LIMIT = "10 per minute"
RATE_LIMIT_FAIL_OPEN = True
# Names this deployment's counters in a Redis shared with others.
RATE_LIMIT_KEY_PREFIX = "tessera"
TRUSTED_PROXIES = 0
PASSWORD_MIN_LENGTH = 8
ARGON2_TIME_COST = 2
ARGON2_MEMORY_COST = 19 * 1024  # KiB
ARGON2_PARALLELISM = 1
LAST_USED_RESOLUTION = 60  # seconds between writes of a session's last_used_at
# How many days of audit events ``manage.py audit prune`` keeps unless told otherwise.
AUDIT_RETENTION_DAYS = 90
MAX_CONTENT_LENGTH = 1024 * 1024
SECRET_KEY: str | None = None
SECRET_KEY_FALLBACKS: list[str] = []
SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
# psycopg prepares a statement on the server once it has run this many times on a connection;
# None never prepares (PgBouncer before 1.21 in transaction mode, see README).
DATABASE_PREPARE_THRESHOLD: int | None = 5
METRICS_ENABLED = False
METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1"]  # who may read GET /metrics

# Environment variables read, and how to turn their text into a value.
environment_parsers = {
    "SECRET_KEY": str,
    "SECRET_KEY_FALLBACKS": lambda text: [k for k in text.split(",") if k],
    "DATABASE_URL": str,
    "DATABASE_PREPARE_THRESHOLD": lambda text: None if text.lower() == "none" else int(text),
    "REDIS_URL": str,
    "ACCESS_TOKEN_MAX_AGE": int,
    "REFRESH_TOKEN_MAX_AGE": int,
    "SESSION_MAX_AGE": int,
    "REFRESH_REUSE_LEEWAY": int,
    "REAUTH_MAX_AGE": int,
    "MFA_REQUIRED": str,
    "MFA_TOKEN_MAX_AGE": int,
    "MFA_ISSUER": str,
    "MFA_ENCRYPTION_KEYS": lambda text: [k.strip() for k in text.split(",") if k.strip()],
    "PERSONAL_TOKEN_DEFAULT_AGE": int,
    "PERSONAL_TOKEN_MAX_AGE": int,
    "TOKEN_QUERY_PARAM": str,
    "LOGIN_RATE_LIMIT": str,
    "RATE_LIMIT_FAIL_OPEN": lambda text: text.lower() in {"1", "true", "yes", "on"},
    "TRUSTED_PROXIES": int,
    "PASSWORD_MIN_LENGTH": int,
    "ARGON2_TIME_COST": int,
    "ARGON2_MEMORY_COST": int,
    "ARGON2_PARALLELISM": int,
    "METRICS_ENABLED": lambda text: text.lower() in {"1", "true", "yes", "on"},
    "METRICS_ALLOWED_NETWORKS": lambda text: [n.strip() for n in text.split(",") if n.strip()],
    "AUDIT_RETENTION_DAYS": int,
}


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from defaults, the instance file, the environment, then overrides."""
    app.config.from_object(__name__)
    app.config.from_pyfile("config.py", silent=True)
    for name, parse in environment_parsers.items():
        text = os.environ.get(name)
        if text:
            try:
                app.config[name] = parse(text)
            except ValueError as exc:
                raise RuntimeError(f"environment variable {name} is not valid: {exc}") from None
    # A key set but empty (``SECRET_KEY=`` when a secret store delivered nothing) is a
    # mistake to refuse with a clear message, not a reason to generate a key of our own.
    app.config["SECRET_KEY_FROM_CONFIG"] = (
        app.config.get("SECRET_KEY") is not None or "SECRET_KEY" in os.environ
    )
    if overrides:
        app.config.update(overrides)
        if overrides.get("SECRET_KEY") is not None:
            app.config["SECRET_KEY_FROM_CONFIG"] = True
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{os.path.join(app.instance_path, 'tessera.db')}"
    app.config["DATABASE_URL"] = normalise_database_url(app.config["DATABASE_URL"])
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    _check_token_lifetimes(app.config)
    if app.config["MFA_REQUIRED"] not in mfa_policies:
        raise RuntimeError(f"MFA_REQUIRED must be one of {', '.join(mfa_policies)}")


def normalise_database_url(url: str) -> str:
    """Spell the common ``postgres://`` and ``postgresql://`` as psycopg 3's URL.

    Hosting platforms hand out ``postgres://``, which SQLAlchemy no longer reads, and a bare
    ``postgresql://`` would ask for psycopg2, which is not installed.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _check_token_lifetimes(config: dict[str, Any]) -> None:
    for name in (
        "ACCESS_TOKEN_MAX_AGE",
        "REFRESH_TOKEN_MAX_AGE",
        "SESSION_MAX_AGE",
        "REAUTH_MAX_AGE",
        "MFA_TOKEN_MAX_AGE",
        "PERSONAL_TOKEN_DEFAULT_AGE",
        "PERSONAL_TOKEN_MAX_AGE",
    ):
        if int(config[name]) <= 0:
            raise RuntimeError(f"{name} must be a positive number of seconds")
    if int(config["REFRESH_REUSE_LEEWAY"]) < 0:
        raise RuntimeError("REFRESH_REUSE_LEEWAY must be 0 (off) or a number of seconds")
    if int(config["PERSONAL_TOKEN_DEFAULT_AGE"]) > int(config["PERSONAL_TOKEN_MAX_AGE"]):
        raise RuntimeError("PERSONAL_TOKEN_DEFAULT_AGE must not exceed PERSONAL_TOKEN_MAX_AGE")
