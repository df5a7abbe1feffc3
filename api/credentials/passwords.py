"""Password hashing with Argon2id, and the rules a new password must meet."""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app

from api import event_loop

CONTEXT_WORDS = ("tessera",)
# The longest password accepted anywhere, in code points as received.
MAX_PASSWORD_LENGTH = 1024


class PasswordHashing:
    """Argon2id with the app's parameters, and a dummy hash for users who do not exist."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        # Checking a password against this costs what checking a real one costs, so a
        # login for an unknown user takes as long as a wrong password.
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        """Return a new salted Argon2id hash of ``password``."""
        return event_loop.run_off_loop(self.hasher.hash, _stabilized(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether ``password`` matches ``password_hash``."""
        try:
            return event_loop.run_off_loop(self.hasher.verify, password_hash, _stabilized(password))
        except (VerificationError, InvalidHashError, UnicodeEncodeError):
            return False

    def verify_dummy(self, password: str) -> bool:
        """Spend one verification on no user; always False."""
        self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether ``password_hash`` was made with other parameters than today's."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def _stabilized(password: str) -> str:
    """Return ``password`` in Unicode NFKC, as NIST SP 800-63B asks.

    The same password typed on two systems may reach us composed or decomposed ("é" as one
    code point or two); both must verify. Nothing else changes: no trimming, no case folding.
    """
    return unicodedata.normalize("NFKC", password)


def init_app(app: Flask) -> None:
    """Build the app's hasher from its ``ARGON2_*`` settings."""
    app.extensions["tessera.passwords"] = PasswordHashing(
        int(app.config["ARGON2_TIME_COST"]),
        int(app.config["ARGON2_MEMORY_COST"]),
        int(app.config["ARGON2_PARALLELISM"]),
    )


def hashing() -> PasswordHashing:
    """Return the current app's hasher."""
    return current_app.extensions["tessera.passwords"]


@cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of common passwords, lower-cased."""
    text = resources.files("api").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problems(password: str, username: str) -> list[str]:
    """Return why ``password`` may not be used by ``username``; an empty list means it may.

    Length counts code points: the minimum must be met both as received (the ``minLength``
    the OpenAPI document states) and as hashed (NFKC, which can join or split characters);
    the maximum counts those received. There are no composition rules (NIST SP 800-63B).
    Text that no request body can carry (a NUL, a lone surrogate) is refused here too, so a
    password set from the CLI is one its owner can send to ``POST /login``.
    """
    minimum = int(current_app.config["PASSWORD_MIN_LENGTH"])
    if not _is_text(password):
        return ["Must be valid Unicode text."]
    if "\x00" in password:
        return ["Must not hold a NUL character."]
    stabilized = _stabilized(password)
    if min(len(password), len(stabilized)) < minimum:
        return [f"Must be at least {minimum} characters long."]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"Must be at most {MAX_PASSWORD_LENGTH} characters long."]
    folded = stabilized.casefold()
    if folded == username.casefold():
        return ["Must not be the username."]
    if folded in common_passwords() or folded in CONTEXT_WORDS:
        return ["Is too common; choose another."]
    return []


def _is_text(password: str) -> bool:
    # A lone surrogate (from a JSON escape or a badly decoded terminal) cannot be hashed.
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
