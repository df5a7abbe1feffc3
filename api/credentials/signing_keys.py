"""Signing keys: configured ones, or a generated key file in the instance folder.

The key file is JSON, ``{"keys": [{"secret", "created_at"}, ...]}``, oldest first. The last key
signs; the others only verify tokens they signed before a rotation. The file helpers serve any
key file of that shape (``secret_box`` keeps the MFA encryption keys in one): each is
written owner-only (0600) and whole, by a rename, so no reader ever sees half a file.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import tempfile
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from api.credentials.signed_tokens import key_id

KEY_FILE = "secret_keys.json"
WELL_KNOWN_KEYS = {"", "dev", "secret", "changeme", "change-me", "secret-key", "your-secret-key"}
MIN_KEY_LENGTH = 32


class KeyFileError(RuntimeError):
    """A key file cannot be used or changed as asked; the message says why.

    A configuration the app cannot start with, as ``manage.py`` reports any RuntimeError.
    """


class SigningKeyError(KeyFileError):
    """The signing keys cannot be used or changed as asked; the message says why."""


def configure_signing_keys(app: Flask) -> None:
    """Set ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, generating a key file on first start."""
    if not app.config["SECRET_KEY_FROM_CONFIG"]:
        keys = read_key_file(app.instance_path) or _create_key_file(app.instance_path)
        app.config["SECRET_KEY"] = keys[-1]["secret"]
        app.config["SECRET_KEY_FALLBACKS"] = [key["secret"] for key in keys[:-1]]
    for key in [app.config["SECRET_KEY"], *app.config["SECRET_KEY_FALLBACKS"]]:
        # Debug mode may use a short or well-known key, never none at all.
        if not app.debug or not key:
            _refuse_weak(key)


def _refuse_weak(key: Any) -> None:
    if not isinstance(key, str) or key.strip().lower() in WELL_KNOWN_KEYS:
        raise SigningKeyError("SECRET_KEY is empty or well known; set a random one")
    if len(key) < MIN_KEY_LENGTH:
        raise SigningKeyError(
            f"SECRET_KEY is shorter than {MIN_KEY_LENGTH} characters; "
            "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        )


def read_key_file(instance_path: str, name: str = KEY_FILE) -> list[dict[str, str]]:
    """Return the keys of the instance key file ``name``, oldest first, or [] when there is
    none."""
    try:
        with open(os.path.join(instance_path, name), encoding="utf-8") as file:
            keys = json.load(file)["keys"]
    except FileNotFoundError:
        return []
    if not keys or not all(isinstance(key.get("secret"), str) for key in keys):
        raise KeyFileError(f"{name} in {instance_path} holds no usable key")
    return keys


def new_key_record(secret: str) -> dict[str, str]:
    """Return the key file's record of ``secret``, made now."""
    return {"secret": secret, "created_at": datetime.now(UTC).isoformat()}


def _new_key() -> dict[str, str]:
    return new_key_record(secrets.token_hex(32))


def create_key_file(
    instance_path: str, first_key: dict[str, str], name: str = KEY_FILE
) -> list[dict[str, str]]:
    """Write a key file holding ``first_key``; when another process won the race to write
    one, use its key instead. Return the file's keys."""
    os.makedirs(instance_path, exist_ok=True)
    temp = _write_private(instance_path, [first_key])
    try:
        os.link(temp, os.path.join(instance_path, name))
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
    return read_key_file(instance_path, name)


def _create_key_file(instance_path: str) -> list[dict[str, str]]:
    return create_key_file(instance_path, _new_key())


def _write_private(instance_path: str, keys: list[dict[str, str]]) -> str:
    """Write ``keys`` to a new owner-only file beside the key file and return its path."""
    fd, temp = tempfile.mkstemp(prefix=".keys-", dir=instance_path)  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump({"keys": keys}, file, indent=2)
        file.flush()
        os.fsync(file.fileno())
    return temp


def replace_key_file(instance_path: str, keys: list[dict[str, str]], name: str = KEY_FILE) -> None:
    """Replace the key file ``name`` with one holding ``keys``, in one rename."""
    os.replace(_write_private(instance_path, keys), os.path.join(instance_path, name))


def rotate_key(instance_path: str) -> int:
    """Add a new signing key to the key file; return how many keys it now holds."""
    keys = read_key_file(instance_path)
    if not keys:
        raise SigningKeyError(f"no {KEY_FILE} in {instance_path}: start the app once first")
    keys.append(_new_key())
    replace_key_file(instance_path, keys)
    return len(keys)


def drop_old_keys(
    instance_path: str, longest_token_lifetime: int, key_ids_in_use: Collection[str] = ()
) -> int:
    """Remove fallback keys no live token can name any more; return how many went.

    A key stays while a session token it signed may still live (its successor is younger
    than ``longest_token_lifetime``) or while a live personal access token names it
    (``key_ids_in_use``): PATs live up to a year, far longer than any session token.
    """
    keys = read_key_file(instance_path)
    cutoff = datetime.now(UTC) - timedelta(seconds=longest_token_lifetime)
    kept = [
        key
        for key, successor in itertools.pairwise(keys)
        if datetime.fromisoformat(successor["created_at"]) > cutoff
        or key_id(key["secret"]) in key_ids_in_use
    ] + keys[-1:]
    if len(kept) != len(keys):
        replace_key_file(instance_path, kept)
    return len(keys) - len(kept)
