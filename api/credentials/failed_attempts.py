"""Failed attempts: every wrong password or code counts, per client address and per username.

Two independent counters (``LOGIN_RATE_LIMIT``, in the ``limits`` library's syntax, one or
more windows). A check first asks both counters: while either is over its limit, even the
right password gets 429 (counted in the metrics and the log, not one audit row each). Only a
failed check adds to them. Counters live in memory, one set per process, or in Redis when
``REDIS_URL`` is set, shared by every process. The counters belong to the app
(``app.extensions``); services call ``check`` before a secret is verified and
``refuse_wrong_secret`` when it is wrong, the one way a wrong secret is answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from api.audit_writer import audit
from api.database import db
from api.errors import ServiceError, TooManyAttempts, Unavailable
from api.origin import Origin
from api.refusal_tally import count_refusal

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

    def check(self, origin: Origin, username_key: str | None) -> None:
        """Raise TooManyAttempts while either counter is over a limit."""
        for counter in self._counters(origin.address, username_key):
            spent = [
                limit
                for limit in self.limits
                if not self._guarded(self.strategy.test, limit, counter, origin)
            ]
            if spent:
                self._refuse(spent, counter, origin)

    def record_failure(self, origin: Origin, username_key: str | None) -> None:
        """Count one failed attempt on both counters."""
        for counter in self._counters(origin.address, username_key):
            for limit in self.limits:
                self._guarded(self.strategy.hit, limit, counter, origin)

    def _guarded(self, operation, limit: RateLimitItem, counter: Counter, origin: Origin) -> bool:
        """Run ``operation`` on the counter; a store that fails answers True (not over)."""
        try:
            return operation(limit, self.prefix, counter.name, counter.key)
        except StorageError as error:
            self._storage_failed(error, origin)
            return True

    def _storage_failed(self, error: StorageError, origin: Origin) -> None:
        """Fail open (audit and go on, without limits) or closed (503), as configured."""
        cause = f"{type(error.storage_error).__name__}: {error.storage_error}"[:200]
        failing = "open" if self.fail_open else "closed"
        audit(
            "rate_limit_storage",
            "unavailable",
            origin=origin,
            refused=True,
            failing=failing,
            error=cause,
        )
        if not self.fail_open:
            raise Unavailable(
                "login is unavailable: the rate-limit store does not answer",
                headers={"Retry-After": "5"},
            ) from None

    def _refuse(self, spent: list[RateLimitItem], counter: Counter, origin: Origin) -> None:
        """Count the refusal and raise, telling the longest wait of the spent limits.

        No audit row: a 429 proves nothing and costs its sender nothing, and the failures
        that spent the limit are rows already (``refusal_tally``).
        """
        resets = [
            self.strategy.get_window_stats(limit, self.prefix, counter.name, counter.key).reset_time
            for limit in spent
        ]
        retry_after = max(1, int(max(resets) - time.time()) + 1)
        count_refusal("rate_limited", counter.name, origin=origin, limit=str(spent[0]))
        raise TooManyAttempts(retry_after)


def counters() -> FailedAttempts:
    """Return the current app's counters."""
    return current_app.extensions["tessera.attempts"]


def check(origin: Origin, username_key: str | None) -> None:
    """Raise TooManyAttempts while the origin's address or the username is over its limit."""
    counters().check(origin, username_key)


def refuse_wrong_secret(
    origin: Origin,
    username_key: str | None,
    refusal: ServiceError,
    event: str,
    *,
    user_id: int | None = None,
    session_id: str | None = None,
    change: Callable[[], Any] | None = None,
    counted: bool = False,
    **fields: Any,
) -> NoReturn:
    """Answer a wrong password or code: every one counts, every one is recorded.

    The use case has only read, or made a compare-and-swap that changed nothing but whose
    UPDATE may hold SQLite's write lock: its transaction is rolled back first. Unless it
    ``counted`` the attempt on the account before checking the code
    (``second_factor_failures``): that count must outlive the refusal, so it is committed
    with the event. ``event`` is recorded as a failure, at once, or with ``change`` (what the
    refusal itself writes, as a challenge counts its wrong codes) in one commit. Only then,
    with no write waiting for its commit, is the failure counted for the origin's address
    and the username (which may wait on Redis); then ``refusal`` is raised.
    """
    if not counted:
        db.session.rollback()
    writes = counted or change is not None
    if change is not None:
        change()
    columns = {"origin": origin, "user_id": user_id, "session_id": session_id}
    audit(event, "failure", refused=not writes, **columns, **fields)
    if writes:
        db.session.commit()
    counters().record_failure(origin, username_key)
    raise refusal


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
