"""Secrets at rest: TOTP secrets encrypted with Fernet keys that are never in the database.

A copy of the database alone gives no secret: each is a Fernet token (AES-128-CBC with an
HMAC-SHA256, as the Fernet specification has it), and the keys live outside the database:

- ``MFA_ENCRYPTION_KEYS`` (configuration or environment): Fernet keys, comma-separated,
  newest first. Every host of a deployment sets the same list (from its secret store).
- otherwise ``mfa_keys.json`` in the instance folder, generated on first start (owner-only,
  written whole, like the signing keys' file; the same shape, oldest first).

``MultiFernet`` encrypts with the newest key and decrypts with any, so a rotation is: add a new
key, re-encrypt every stored secret with it (``MultiFernet.rotate``), then drop the old key
(``manage.py secret rotate-mfa-key``). A server that meets a secret it cannot decrypt reads
the instance key file again once, so the servers of one host follow a rotation made by the
CLI without a restart.
"""

from __future__ import annotations

import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from api.credentials import signing_keys

KEY_FILE = "mfa_keys.json"


class EncryptionKeyError(signing_keys.KeyFileError):
    """The MFA encryption keys cannot be used as configured; the message says why."""


class UndecryptableSecret(RuntimeError):
    """A stored secret that no key held can decrypt: a key was lost or not shared."""


def _fernets(secrets_newest_first: list[str], source: str) -> MultiFernet:
    if not secrets_newest_first:
        raise EncryptionKeyError(f"{source} holds no key")
    try:
        return MultiFernet([Fernet(secret) for secret in secrets_newest_first])
    except (ValueError, TypeError):
        raise EncryptionKeyError(
            f"{source} holds a key that is not a Fernet key (32 url-safe base64-encoded "
            "bytes); make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from None


class SecretBox:
    """Encrypt and decrypt short secrets with the app's keys."""

    def __init__(self, configured: list[str], instance_path: str) -> None:
        self.configured = list(configured)
        self.instance_path = instance_path
        self._lock = threading.Lock()
        self._fernet = self._load()

    @property
    def from_file(self) -> bool:
        """Whether the keys come from the instance key file (not from the configuration)."""
        return not self.configured

    def _load(self) -> MultiFernet:
        if self.configured:
            return _fernets(self.configured, "MFA_ENCRYPTION_KEYS")
        return _fernets(file_keys_newest_first(self.instance_path), KEY_FILE)

    def encrypt(self, secret: str) -> str:
        """Return ``secret`` encrypted with the newest key."""
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Return the secret ``token`` holds; raise UndecryptableSecret if no key opens it."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            if not self.from_file:
                raise UndecryptableSecret("no MFA encryption key opens a stored secret") from None
        with self._lock:  # the CLI may have rotated the key file: read it again, once
            self._fernet = self._load()
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise UndecryptableSecret("no MFA encryption key opens a stored secret") from None

    def rotate(self, token: str) -> str:
        """Return ``token``'s secret encrypted again with the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise UndecryptableSecret("no MFA encryption key opens a stored secret") from None


def file_keys_newest_first(instance_path: str) -> list[str]:
    """Return the instance key file's keys, newest first; make the file on first start."""
    records = signing_keys.read_key_file(instance_path, KEY_FILE) or signing_keys.create_key_file(
        instance_path, signing_keys.new_key_record(Fernet.generate_key().decode()), KEY_FILE
    )
    return [record["secret"] for record in reversed(records)]


def add_file_key(instance_path: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Add a new key to the instance key file; return the records before and after."""
    before = signing_keys.read_key_file(instance_path, KEY_FILE)
    if not before:
        raise EncryptionKeyError(f"no {KEY_FILE} in {instance_path}: start the app once first")
    after = [*before, signing_keys.new_key_record(Fernet.generate_key().decode())]
    signing_keys.replace_key_file(instance_path, after, KEY_FILE)
    return before, after


def write_file_keys(instance_path: str, records: list[dict[str, str]]) -> None:
    """Replace the instance key file's keys with ``records`` (oldest first)."""
    signing_keys.replace_key_file(instance_path, records, KEY_FILE)


def box() -> SecretBox:
    """Return the current app's box."""
    return current_app.extensions["tessera.encryption"]


def init_app(app: Flask) -> None:
    """Load the app's encryption keys: configured, or the instance file (made if missing)."""
    app.extensions["tessera.encryption"] = SecretBox(
        app.config["MFA_ENCRYPTION_KEYS"], app.instance_path
    )
