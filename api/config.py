"""Configuration: package defaults, then ``instance/config.py``, then the environment, then the
overrides ``create_app`` is given; every value checked once, before anything uses it.

``SETTINGS`` is the one list of settings: each row holds the default (the production one, so
forgetting to choose fails safe), how the environment's text becomes a value, the accepted
form in words and the check. A value the server cannot use stops the start with one line,
``NAME must be FORM`` (a ``ConfigError``); it is never replaced by the default.

Booleans are words: ``true``/``false``, ``yes``/``no``, ``on``/``off`` and ``1``/``0``, in
any case, the spellings operators and platforms commonly write; anything else ("flase",
"maybe") is refused rather than read as false.
"""

from __future__ import annotations

import copy
import email.utils
import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from limits import parse_many

from api.credentials import addresses

# Where the instance folder (instance/config.py, the SQLite database, the key files) lives,
# read before the app is made: the operator's choice, over Flask's default.
INSTANCE_PATH_VARIABLE = "TESSERA_INSTANCE_PATH"
MFA_POLICIES = ("none", "admins", "all")
SIGNUP_POLICIES = ("closed", "open", "invite")
MAIL_SCHEMES = ("smtp", "smtp+starttls", "smtps")
# A signing key anyone could guess; shorter keys are refused too.
WELL_KNOWN_KEYS = {"", "dev", "secret", "changeme", "change-me", "secret-key", "your-secret-key"}
MIN_KEY_LENGTH = 32
TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}
SIMPLE_NAME = re.compile(r"[A-Za-z0-9._-]+")


class ConfigError(RuntimeError):
    """A setting holds a value the server cannot use; the message is one line naming it."""


Check = Callable[[Any, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Setting:
    """One setting: its default, how its text is read, what it accepts (in words and as a
    check) and one value it refuses (the tests start with each)."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    form: str
    check: Check
    bad: str
    # An empty environment variable means "not set", except where empty is itself a choice
    # to refuse (``SECRET_KEY=`` when a secret store delivered nothing).
    empty_is_unset: bool = True

    @property
    def refusal(self) -> str:
        """The one line that refuses a value of this setting."""
        return f"{self.name} must be {self.form}"


# Parsers: the environment's text to a value; a ValueError means the text is not of the form.


def _text(text: str) -> str:
    return text


def _whole_number(text: str) -> int:
    return int(text.strip())


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(word)


def _listed(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _whole_number_or_none(text: str) -> int | None:
    return None if text.strip().lower() == "none" else int(text.strip())


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(text)
    return value


# Checks: whether a parsed value (or one from Python, in the instance file or the overrides)
# can be used; ``config`` is the whole configuration, for the checks that compare settings.


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _at_least(minimum: int) -> Check:
    return lambda value, config: _is_int(value) and value >= minimum


def _is_bool(value: Any, config: Mapping[str, Any]) -> bool:
    return isinstance(value, bool)


def _is_name(value: Any, config: Mapping[str, Any]) -> bool:
    return isinstance(value, str) and SIMPLE_NAME.fullmatch(value) is not None


def _optional(check: Check) -> Check:
    return lambda value, config: value is None or check(value, config)


def _each(check: Callable[[Any], bool]) -> Check:
    return lambda value, config: isinstance(value, list) and all(check(item) for item in value)


def _is_key(value: Any, config: Mapping[str, Any]) -> bool:
    """A signing key: long and not well known; debug mode may use a weak one, never none."""
    if not isinstance(value, str) or not value.strip():
        return False
    if config.get("DEBUG"):
        return True
    return value.strip().lower() not in WELL_KNOWN_KEYS and len(value) >= MIN_KEY_LENGTH


def _are_keys(value: Any, config: Mapping[str, Any]) -> bool:
    return isinstance(value, list) and all(_is_key(key, config) for key in value)


def _is_database_url(value: Any) -> bool:
    try:
        return bool(sa.make_url(value).drivername)
    except (sa.exc.ArgumentError, TypeError, ValueError):
        return False


def _is_redis_url(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is not None and parts.scheme in ("redis", "rediss") and bool(parts.netloc)


def _is_fernet_key(value: Any) -> bool:
    try:
        Fernet(value)
    except (ValueError, TypeError):
        return False
    return True


def _is_rate(value: Any, config: Mapping[str, Any]) -> bool:
    try:
        return isinstance(value, str) and bool(parse_many(value))
    except ValueError:
        return False


def _is_network(value: Any) -> bool:
    try:
        ipaddress.ip_network(value)
    except (ValueError, TypeError):
        return False
    return True


def _is_origin(value: Any) -> bool:
    """``scheme://host[:port]`` exactly, as a browser sends it in ``Origin``."""
    if not isinstance(value, str) or value.strip() != value:
        return False
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number
        return False
    return (
        port_ok
        and parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and value == f"{parts.scheme}://{parts.netloc}"
    )


def _is_public_url(value: Any, config: Mapping[str, Any]) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and "?" not in value
        and "#" not in value
    )


def _is_mail_url(value: Any) -> bool:
    if value == "console:":
        return True
    if not isinstance(value, str) or any(char.isspace() for char in value):
        return False
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return port_ok and parts.scheme in MAIL_SCHEMES and bool(parts.hostname) and not parts.path


def _is_sender(value: Any) -> bool:
    # No comma or semicolon: a second address could hide behind one.
    if not isinstance(value, str) or any(char in value for char in ",;\r\n\x00"):
        return False
    _name, address = email.utils.parseaddr(value)
    return addresses.is_sender_address(address)


def _is_link_template(value: Any) -> bool:
    if not isinstance(value, str) or "{token}" not in value:
        return False
    try:
        link = value.format(purpose="reset-password", token="t")  # noqa: S106 - a sample
    except (KeyError, IndexError, ValueError):
        return False
    parts = urlsplit(link)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _is_domain(value: Any) -> bool:
    """A host name as an RP id must be: lower-case labels, no IP address, port or scheme."""
    if not isinstance(value, str) or not value or len(value) > 253:
        return False
    labels = value.split(".")
    return not labels[-1].isdigit() and all(_DOMAIN_LABEL.fullmatch(label) for label in labels)


def _are_webauthn_origins(value: Any, config: Mapping[str, Any]) -> bool:
    """Origins a browser may make passkeys on for the RP id: its host is the id or under it."""
    rp_id = config.get("WEBAUTHN_RP_ID")
    if not isinstance(value, list) or not value or not isinstance(rp_id, str):
        return False
    for origin in value:
        if not _is_origin(origin):
            return False
        host = urlsplit(origin).hostname or ""
        if host != rp_id and not host.endswith(f".{rp_id}"):
            return False
    return True


def _is_default_age(value: Any, config: Mapping[str, Any]) -> bool:
    longest = config.get("PERSONAL_TOKEN_MAX_AGE")
    return _is_int(value) and value >= 1 and (not _is_int(longest) or value <= longest)


def _is_argon2_memory(value: Any, config: Mapping[str, Any]) -> bool:
    lanes = config.get("ARGON2_PARALLELISM")
    return _is_int(value) and value >= 8 * (lanes if _is_int(lanes) and lanes > 0 else 1)


def _is_engine_options(value: Any, config: Mapping[str, Any]) -> bool:
    return isinstance(value, dict)


SECONDS = "a whole number of seconds, at least 1"
FERNET_RECIPE = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def _lifetime(name: str, default: int) -> Setting:
    return Setting(name, default, _whole_number, SECONDS, _at_least(1), "abc")


SETTINGS: tuple[Setting, ...] = (
    # Unset: a key generated into the instance folder on the first start, and kept.
    Setting(
        "SECRET_KEY",
        None,
        _text,
        f"at least {MIN_KEY_LENGTH} random characters, never a word such as dev",
        _optional(_is_key),
        "dev",
        empty_is_unset=False,
    ),
    # Older keys that still verify what they signed, oldest first.
    Setting(
        "SECRET_KEY_FALLBACKS",
        [],
        _listed,
        f"a comma-separated list of keys of at least {MIN_KEY_LENGTH} random characters",
        _are_keys,
        "dev",
    ),
    # Unset: SQLite file tessera.db in the instance folder.
    Setting(
        "DATABASE_URL",
        None,
        _text,
        "a database URL: use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/NAME",
        _optional(lambda value, config: _is_database_url(value)),
        "not a url at all",
    ),
    # psycopg prepares a statement on the server once it has run this many times on a
    # connection; None never prepares (PgBouncer before 1.21 in transaction mode, see README).
    Setting(
        "DATABASE_PREPARE_THRESHOLD",
        5,
        _whole_number_or_none,
        "a whole number of executions, 0 or more, or none",
        _optional(_at_least(0)),
        "often",
    ),
    # Unset: the failed-login counters in the database, shared all the same.
    Setting(
        "REDIS_URL",
        None,
        _text,
        "a redis:// or rediss:// URL",
        _optional(lambda value, config: _is_redis_url(value)),
        "notaurl",
    ),
    _lifetime("ACCESS_TOKEN_MAX_AGE", 15 * 60),
    _lifetime("REFRESH_TOKEN_MAX_AGE", 14 * 24 * 3600),
    _lifetime("SESSION_MAX_AGE", 30 * 24 * 3600),
    # A refresh token spent this many seconds ago or less, presented again, is a client race
    # (two tabs, a retry after a lost answer), not a theft: 0 treats every reuse as theft.
    Setting(
        "REFRESH_REUSE_LEEWAY",
        10,
        _whole_number,
        "a whole number of seconds, 0 (off) or more",
        _at_least(0),
        "-1",
    ),
    # How recent a login must be for an operation marked fresh (RFC 9470's max_age).
    _lifetime("REAUTH_MAX_AGE", 600),
    # Who must have a second factor.
    Setting(
        "MFA_REQUIRED",
        "none",
        _text,
        f"one of {', '.join(MFA_POLICIES)}",
        lambda value, config: value in MFA_POLICIES,
        "sometimes",
    ),
    # How long the second step of a login may take: the mfa_token's and its challenge's.
    _lifetime("MFA_TOKEN_MAX_AGE", 300),
    # How long a login's device_token counts that device's next login apart from strangers'.
    _lifetime("DEVICE_TOKEN_MAX_AGE", 90 * 24 * 3600),
    # The issuer an authenticator app shows beside the account name (a colon would split it).
    Setting(
        "MFA_ISSUER",
        "Tessera",
        _text,
        "a name without a colon",
        lambda value, config: isinstance(value, str) and bool(value.strip()) and ":" not in value,
        "Acme:Tessera",
    ),
    # Fernet keys that encrypt TOTP secrets, newest first; unset: a key file in the instance.
    Setting(
        "MFA_ENCRYPTION_KEYS",
        [],
        _listed,
        f"a comma-separated list of Fernet keys, newest first ({FERNET_RECIPE})",
        _each(_is_fernet_key),
        "not a key",
    ),
    _lifetime("PERSONAL_TOKEN_MAX_AGE", 365 * 24 * 3600),
    Setting(
        "PERSONAL_TOKEN_DEFAULT_AGE",
        30 * 24 * 3600,
        _whole_number,
        "a whole number of seconds, at least 1 and at most PERSONAL_TOKEN_MAX_AGE",
        _is_default_age,
        "400 days",
    ),
    # Unset: no token in a query string, ever.
    Setting(
        "TOKEN_QUERY_PARAM",
        None,
        _text,
        "a query parameter name of letters, digits, '.', '_' or '-'",
        _optional(_is_name),
        "access token",
    ),
    Setting(
        "LOGIN_RATE_LIMIT",
        "10 per minute",
        _text,
        'a rate such as "10 per minute"',
        _is_rate,
        "lots",
    ),
    # While Redis is down: serve logins without limits (true) or answer 503 (false).
    Setting("RATE_LIMIT_FAIL_OPEN", True, _boolean, "true or false", _is_bool, "flase"),
    # Names this deployment's counters in a Redis shared with others.
    Setting(
        "RATE_LIMIT_KEY_PREFIX",
        "tessera",
        _text,
        "a name of letters, digits, '.', '_' or '-'",
        _is_name,
        "two words",
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        _whole_number,
        "a whole number of proxies, 0 or more",
        _at_least(0),
        "-1",
    ),
    Setting(
        "PASSWORD_MIN_LENGTH",
        8,
        _whole_number,
        "a whole number of characters, at least 1",
        _at_least(1),
        "eight",
    ),
    Setting(
        "ARGON2_TIME_COST",
        2,
        _whole_number,
        "an integer of at least 1 iteration",
        _at_least(1),
        "0",
    ),
    Setting(
        "ARGON2_MEMORY_COST",
        19 * 1024,
        _whole_number,
        "an integer of at least 8 × ARGON2_PARALLELISM KiB",  # noqa: RUF001 - the sign as read
        _is_argon2_memory,
        "1",
    ),
    Setting(
        "ARGON2_PARALLELISM",
        1,
        _whole_number,
        "an integer of at least 1 lane",
        _at_least(1),
        "0",
    ),
    # Seconds between writes of a session's last_used_at.
    Setting(
        "LAST_USED_RESOLUTION",
        60,
        _whole_number,
        "a whole number of seconds, 0 or more",
        _at_least(0),
        "a minute",
    ),
    # How many days of audit events and sent mails ``audit prune`` and ``mail prune`` keep
    # unless told otherwise.
    Setting(
        "AUDIT_RETENTION_DAYS",
        90,
        _whole_number,
        "a whole number of days, at least 1",
        _at_least(1),
        "0",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        1024 * 1024,
        _whole_number,
        "a whole number of bytes, at least 1",
        _at_least(1),
        "1MB",
    ),
    # Passed to SQLAlchemy's create_engine beside Tessera's own options.
    Setting(
        "SQLALCHEMY_ENGINE_OPTIONS",
        {},
        _json_object,
        'a JSON object of SQLAlchemy engine options such as {"pool_size": 5}',
        _is_engine_options,
        "pool_size=5",
    ),
    Setting("METRICS_ENABLED", False, _boolean, "true or false", _is_bool, "maybe"),
    # Who may read GET /metrics.
    Setting(
        "METRICS_ALLOWED_NETWORKS",
        ["127.0.0.0/8", "::1"],
        _listed,
        "a comma-separated list of networks such as 10.0.0.0/8",
        _each(_is_network),
        "10.0.0.1/8",
    ),
    # The browser origins allowed to call the API; there are no cookies, so no credentials.
    Setting(
        "CORS_ORIGINS",
        [],
        _listed,
        "a comma-separated list of origins scheme://host[:port], never *",
        _each(_is_origin),
        "*",
    ),
    # Unset: the URL clients use to reach the API is the request's own.
    Setting(
        "PUBLIC_URL",
        None,
        _text,
        "an absolute http:// or https:// URL with no query or fragment",
        _optional(_is_public_url),
        "api.example.com",
    ),
    # How old a DPoP proof may be (its iat), in seconds: how long its jti is remembered too.
    _lifetime("DPOP_MAX_AGE", 60),
    # Every new session and personal access token needs a DPoP key (RFC 9449).
    Setting("DPOP_REQUIRED", False, _boolean, "true or false", _is_bool, "sometimes"),
    # Who may open an account: an administrator only (closed), anyone, or an invitation.
    Setting(
        "SIGNUP_POLICY",
        "closed",
        _text,
        f"one of {', '.join(SIGNUP_POLICIES)}",
        lambda value, config: value in SIGNUP_POLICIES,
        "opne",
    ),
    # Unset: mails wait in the outbox until it is set.
    Setting(
        "MAIL_URL",
        None,
        _text,
        "smtp://[USER:PASSWORD@]HOST[:PORT], smtp+starttls://..., smtps://... or console:",
        _optional(lambda value, config: _is_mail_url(value)),
        "smtp//x",
    ),
    Setting(
        "MAIL_FROM",
        "Tessera <no-reply@localhost>",
        _text,
        "one address, alone or as Name <address>, on one line",
        lambda value, config: _is_sender(value),
        "a@x.test, b@y.test",
    ),
    # Mails asked for, per client address and per target address.
    Setting(
        "MAIL_RATE_LIMIT",
        "5 per hour",
        _text,
        'a rate such as "5 per hour"',
        _is_rate,
        "often",
    ),
    Setting(
        "EMAIL_LINK_TEMPLATE",
        "http://localhost:5000/#/{purpose}?token={token}",
        _text,
        "an http:// or https:// URL containing {token} (and optionally {purpose})",
        lambda value, config: _is_link_template(value),
        "http://localhost:5000/reset",
    ),
    _lifetime("EMAIL_TOKEN_MAX_AGE", 24 * 3600),
    _lifetime("PASSWORD_RESET_MAX_AGE", 30 * 60),
    # Passkeys (WebAuthn): the relying party's id, the domain browsers bind a passkey to.
    Setting(
        "WEBAUTHN_RP_ID",
        "localhost",
        _text,
        "a domain name such as example.com, with no scheme, port or path",
        lambda value, config: _is_domain(value),
        "https://example.com",
    ),
    # The name an authenticator shows beside the account when a passkey is made.
    Setting(
        "WEBAUTHN_RP_NAME",
        "Tessera",
        _text,
        "a name of 1 to 64 characters",
        lambda value, config: isinstance(value, str) and 0 < len(value.strip()) <= 64,
        "   ",
    ),
    # The pages that call navigator.credentials: their origins, on the RP id or under it.
    Setting(
        "WEBAUTHN_ORIGINS",
        ["http://localhost:5000"],
        _listed,
        "a comma-separated list of origins scheme://host[:port] on WEBAUTHN_RP_ID or under it",
        _are_webauthn_origins,
        "localhost:5000",
    ),
    # How long a passkey ceremony may take: its options' state, and the browser's timeout.
    _lifetime("WEBAUTHN_TIMEOUT", 300),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def defaults() -> dict[str, Any]:
    """The package defaults, read from the table; each app gets its own lists and dicts."""
    return {setting.name: copy.deepcopy(setting.default) for setting in SETTINGS}


def instance_app(instance_path: str | None = None) -> Flask:
    """Make the Flask object in the instance folder chosen: ``instance_path``, else
    ``TESSERA_INSTANCE_PATH``, else Flask's default beside the package in a clone.

    Installed (not run from a clone), Flask's default is ``<venv>/var/api-instance``: the
    database and keys would vanish with the virtual environment. Guessing another folder (the
    current one) would pick a different database and keys for each folder a command runs in,
    so the start stops and asks for ``TESSERA_INSTANCE_PATH`` instead.
    """
    chosen = instance_path or os.environ.get(INSTANCE_PATH_VARIABLE) or None
    app = Flask(
        "api",
        instance_path=os.path.abspath(chosen) if chosen else None,
        instance_relative_config=True,
    )
    if not chosen and Path(app.instance_path).parts[-2:] == ("var", "api-instance"):
        raise ConfigError(
            f"{INSTANCE_PATH_VARIABLE} must be set to the folder for config.py, the database "
            f"and the key files (the default, {app.instance_path}, is inside the virtual "
            "environment)"
        )
    return app


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from defaults, the instance file, the environment, then overrides,
    and check every setting; raise ``ConfigError`` for the first one the server cannot use."""
    app.config.update(defaults())
    app.config.from_pyfile("config.py", silent=True)
    for setting in SETTINGS:
        text = os.environ.get(setting.name)
        if text or (text is not None and not setting.empty_is_unset):
            app.config[setting.name] = _parsed(setting, text)
    # Unset, the key is generated into the instance folder; set (even empty), it must be good.
    app.config["SECRET_KEY_FROM_CONFIG"] = (
        app.config.get("SECRET_KEY") is not None or "SECRET_KEY" in os.environ
    )
    if overrides:
        app.config.update(overrides)
        if overrides.get("SECRET_KEY") is not None:
            app.config["SECRET_KEY_FROM_CONFIG"] = True
    check_config(app.config)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{os.path.join(app.instance_path, 'tessera.db')}"
    app.config["DATABASE_URL"] = normalise_database_url(app.config["DATABASE_URL"])
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]


def check_config(config: dict[str, Any]) -> None:
    """Read text written where a value was expected (``"300"`` in the instance file), then
    check every setting; raise ``ConfigError`` naming the first the server cannot use."""
    for setting in SETTINGS:
        value = config.get(setting.name)
        if isinstance(value, str) and setting.parse is not _text:
            config[setting.name] = value = _parsed(setting, value)
        if not setting.check(value, config):
            raise ConfigError(setting.refusal)


def _parsed(setting: Setting, text: str) -> Any:
    try:
        return setting.parse(text)
    except ValueError:
        raise ConfigError(setting.refusal) from None


def normalise_database_url(url: str) -> str:
    """Spell the common ``postgres://`` and ``postgresql://`` as psycopg 3's URL.

    Hosting platforms hand out ``postgres://``, which SQLAlchemy no longer reads, and a bare
    ``postgresql://`` would ask for psycopg2, which is not installed.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def describe_instance(app: Flask) -> str:
    """Say where this app keeps its data, without the database password."""
    database = sa.make_url(app.config["DATABASE_URL"]).render_as_string(hide_password=True)
    return f"instance folder: {app.instance_path}, database: {database}"
