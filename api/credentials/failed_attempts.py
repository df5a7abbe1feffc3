"""Failed attempts: every wrong password or code counts, per client address and per username.

Two independent counters (``LOGIN_RATE_LIMIT``, in the ``limits`` library's syntax, one or
more windows). A check first asks both counters: while either is over its limit, even the
right password gets 429. Only a failed check adds to them. Counters live in memory, one set
per process, or in Redis when ``REDIS_URL`` is set, shared by every process. The counters
belong to the app (``app.extensions``); services call ``check`` and ``record_failure``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from api.audit_writer import audit
from api.errors import TooManyAttempts, Unavailable

# A Redis that does not answer must not hold up a login for long, and its errors arrive
# wrapped in StorageError whatever the client library raised.
REDIS_STORAGE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
# The username counter's key for a name no user can have: one bucket, short and storable.
INVALID_USERNAME_KEY = "-"


@dataclass(frozen=True)
class Counter:
    name: str  # "address" or "username"
    key: str


class FailedAttempts:
    """The app's two counters of failed attempts, over one storage."""

    def __init__(self, storage: Storage, limits: list[RateLimitItem], prefix: str, fail_open: bool):
        self.strategy = FixedWindowRateLimiter(storage)
        self.limits = limits
        self.prefix = prefix
        self.fail_open = fail_open

    def _counters(self, address: str, username_key: str | None) -> list[Counter]:
        return [
            Counter("address", address),
            Counter("username", username_key or INVALID_USERNAME_KEY),
        ]

    def check(self, address: str, username_key: str | None) -> None:
        """Raise TooManyAttempts while either counter is over a limit."""
        for counter in self._counters(address, username_key):
            spent = [
                limit
                for limit in self.limits
                if not self._guarded(self.strategy.test, limit, counter, default=True)
            ]
            if spent:
                self._refuse(spent, counter)

    def record_failure(self, address: str, username_key: str | None) -> None:
        """Count one failed attempt on both counters."""
        for counter in self._counters(address, username_key):
            for limit in self.limits:
                self._guarded(self.strategy.hit, limit, counter, default=True)

    def _guarded(self, operation, limit: RateLimitItem, counter: Counter, default: bool) -> bool:
        try:
            return operation(limit, self.prefix, counter.name, counter.key)
        except StorageError as error:
            self._storage_failed(error)
            return default

    def _storage_failed(self, error: StorageError) -> None:
        """Fail open (audit and go on, without limits) or closed (503), as configured."""
        cause = f"{type(error.storage_error).__name__}: {error.storage_error}"[:200]
        failing = "open" if self.fail_open else "closed"
        audit("rate_limit_storage", "unavailable", refused=True, failing=failing, error=cause)
        if not self.fail_open:
            raise Unavailable(
                "login is unavailable: the rate-limit store does not answer",
                headers={"Retry-After": "5"},
            ) from None

    def _refuse(self, spent: list[RateLimitItem], counter: Counter) -> None:
        """Audit the refusal and raise, telling the longest wait of the spent limits."""
        resets = [
            self.strategy.get_window_stats(limit, self.prefix, counter.name, counter.key).reset_time
            for limit in spent
        ]
        retry_after = max(1, int(max(resets) - time.time()) + 1)
        fields = {"username": counter.key} if counter.name == "username" else {}
        audit(
            "rate_limited",
            "refused",
            refused=True,
            limit=str(spent[0]),
            counter=counter.name,
            **fields,
        )
        raise TooManyAttempts(retry_after)


def counters() -> FailedAttempts:
    """Return the current app's counters."""
    return current_app.extensions["tessera.attempts"]


def check(address: str, username_key: str | None) -> None:
    """Raise TooManyAttempts while the address or the username is over its limit."""
    counters().check(address, username_key)


def record_failure(address: str, username_key: str | None) -> None:
    """Count a wrong password or code from ``address`` for ``username_key``."""
    counters().record_failure(address, username_key)


def init_app(app: Flask) -> None:
    """Make the app's counters over Redis or memory."""
    uri = app.config["REDIS_URL"] or "memory://"
    options = {"wrap_exceptions": True}
    if uri.startswith(("redis", "rediss")):
        options.update(REDIS_STORAGE_OPTIONS)
        options["key_prefix"] = app.config["RATE_LIMIT_KEY_PREFIX"]
    app.extensions["tessera.attempts"] = FailedAttempts(
        storage_from_string(uri, **options),
        parse_many(app.config["LOGIN_RATE_LIMIT"]),
        app.config["RATE_LIMIT_KEY_PREFIX"],
        bool(app.config["RATE_LIMIT_FAIL_OPEN"]),
    )
