"""Failed attempts: every check of a password or a code counts, counted before it is made.

Each attempt counts on two independent counters (``LOGIN_RATE_LIMIT``, in the ``limits``
library's syntax, one or more windows): the client address's, and its owner's, which is the
username's for a stranger, the device's for a login with a valid ``device_token``, the login
session's at ``/reauthenticate`` and ``/password``. So strangers who keep a username locked do
not lock out its owner, who logs in from a device that logged in before, or proves themselves
in a live session.

``count`` adds the attempt to both counters, one atomic hit each, BEFORE its secret is
checked; a hit past a limit answers 429 and the secret is never checked. Concurrent attempts
each get a count of their own, so none passes a limit by even one. A right secret is no
failed attempt: the use case gives its hits back (``Attempt.give_back``), as it does for an
attempt refused before its secret was checked. A wrong one is answered by
``refuse_wrong_secret``, the one way a wrong secret is answered; its hits stay.

The counters live in the database (``attempt_store``), or in Redis when ``REDIS_URL`` is set:
either way exact across every process and host that share them, and kept over a restart. They
belong to the app (``app.extensions``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from api.audit_writer import audit
from api.credentials import attempt_store
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
    name: str  # "address", "username", "device" or "session"
    key: str


def username(key: str | None) -> Counter:
    """The counter of a username (its case-insensitive key; None for a name no user has)."""
    return Counter("username", key or INVALID_USERNAME_KEY)


def device(device_id: str) -> Counter:
    """The counter of a device that logged in before (its device token's random id)."""
    return Counter("device", device_id)


def session(session_id: str) -> Counter:
    """The counter of a live login session: its owner proving themselves again."""
    return Counter("session", session_id)


@dataclass
class Attempt:
    """One counted attempt: the hits to give back should it prove no failed attempt."""

    counters: FailedAttempts
    origin: Origin
    hits: list[tuple[RateLimitItem, Counter]] = field(default_factory=list)

    def give_back(self) -> None:
        """Uncount the attempt: its secret was right, or never checked. Call it with no write
        waiting for its commit (it may wait on the store)."""
        hits, self.hits = self.hits, []
        for limit, counter in hits:
            self.counters.give_back(limit, counter, self.origin)


class FailedAttempts:
    """The app's counters of failed attempts, over one storage."""

    def __init__(self, storage: Storage, limits: list[RateLimitItem], prefix: str, fail_open: bool):
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(storage)
        self.limits = limits
        self.prefix = prefix
        self.fail_open = fail_open
        # Only the database store keeps a give-back from opening a window of its own.
        self.safe_give_back = isinstance(storage, attempt_store.AttemptStore)

    def count(self, origin: Origin, owner: Counter) -> Attempt:
        """Hit the address's and ``owner``'s counters once per limit; raise TooManyAttempts,
        giving back the hits within their limits, when any hit passed one."""
        attempt = Attempt(self, origin)
        spent: list[tuple[RateLimitItem, Counter]] = []
        for counter in (Counter("address", origin.address), owner):
            for limit in self.limits:
                within = self.hit(limit, counter, origin)
                if within:
                    attempt.hits.append((limit, counter))
                elif within is not None:
                    spent.append((limit, counter))
        if spent:
            attempt.give_back()
            self._refuse(spent, origin)
        return attempt

    def give_back(self, limit: RateLimitItem, counter: Counter, origin: Origin) -> None:
        """Take one attempt off the counter's running window.

        Redis and memory would open a window at -1 for a key that expired meanwhile (one
        more guess than the limit there), so for them a window that no longer runs is left.
        """
        key = limit.key_for(self.prefix, counter.name, counter.key)
        try:
            if self.safe_give_back or self.storage.get(key) > 0:
                self.storage.incr(key, limit.get_expiry(), amount=-1)
        except StorageError as error:
            self._storage_failed(error, origin, refuse=False)  # the attempt passed already

    def hit(self, limit: RateLimitItem, counter: Counter, origin: Origin) -> bool | None:
        """Count on the counter; tell whether it is within ``limit`` (None: the store failed
        and fails open, so nothing was counted)."""
        try:
            return self.strategy.hit(limit, self.prefix, counter.name, counter.key)
        except StorageError as error:
            self._storage_failed(error, origin)
            return None

    def _storage_failed(self, error: StorageError, origin: Origin, refuse: bool = True) -> None:
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
        if refuse and not self.fail_open:
            raise Unavailable(
                "login is unavailable: the rate-limit store does not answer",
                headers={"Retry-After": "5"},
            ) from None

    def _refuse(self, spent: list[tuple[RateLimitItem, Counter]], origin: Origin) -> NoReturn:
        """Count the refusal and raise, telling the longest wait of the spent limits.

        No audit row: a 429 proves nothing and costs its sender nothing, and the failures
        that spent the limit are rows already (``refusal_tally``).
        """
        resets = [
            self.strategy.get_window_stats(limit, self.prefix, counter.name, counter.key).reset_time
            for limit, counter in spent
        ]
        retry_after = max(1, int(max(resets) - time.time()) + 1)
        limit, counter = spent[0]
        count_refusal("rate_limited", counter.name, origin=origin, limit=str(limit))
        raise TooManyAttempts(retry_after)


def counters() -> FailedAttempts:
    """Return the current app's counters."""
    return current_app.extensions["tessera.attempts"]


def count(origin: Origin, owner: Counter) -> Attempt:
    """Count an attempt on the origin's address and ``owner`` before its secret is checked;
    raise TooManyAttempts when either is over a limit (the secret must then go unchecked).

    Call it before the use case writes anything. What it has read ends here (its objects are
    loaded again when next used), so that the request holds no pooled connection while the
    count takes one: under gevent, requests each holding one and waiting for a second would
    wait on each other until the pool's timeout.
    """
    db.session.rollback()
    return counters().count(origin, owner)


def refuse_wrong_secret(
    origin: Origin,
    refusal: ServiceError,
    event: str,
    *,
    user_id: int | None = None,
    session_id: str | None = None,
    change: Callable[[], Any] | None = None,
    counted: bool = False,
    **fields: Any,
) -> NoReturn:
    """Answer a wrong password or code: every one is counted (``count``, before it was
    checked) and recorded.

    The use case has only read, or made a compare-and-swap that changed nothing but whose
    UPDATE may hold SQLite's write lock: its transaction is rolled back first. Unless it
    ``counted`` the attempt on the account or the challenge before checking the code: that
    count must outlive the refusal, so it is committed with the event. ``event`` is recorded
    as a failure, at once, or with ``change`` (what the refusal itself writes, as a challenge
    spent by its last wrong code) in one commit; then ``refusal`` is raised.
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
    raise refusal


def init_app(app: Flask) -> None:
    """Make the app's counters over Redis, or over its database."""
    redis_url = app.config["REDIS_URL"]
    app.extensions["tessera.attempts"] = FailedAttempts(
        _redis_storage(app, redis_url) if redis_url else _database_storage(app),
        parse_many(app.config["LOGIN_RATE_LIMIT"]),
        app.config["RATE_LIMIT_KEY_PREFIX"],
        bool(app.config["RATE_LIMIT_FAIL_OPEN"]),
    )


def _redis_storage(app: Flask, url: str) -> Storage:
    return storage_from_string(
        url,
        wrap_exceptions=True,
        key_prefix=app.config["RATE_LIMIT_KEY_PREFIX"],
        **REDIS_STORAGE_OPTIONS,
    )


def _database_storage(app: Flask) -> Storage:
    # Unwrapped: a database that fails here fails the request as any of its statements would
    # (503), never open, which RATE_LIMIT_FAIL_OPEN allows for Redis alone.
    with app.app_context():
        return storage_from_string(f"{attempt_store.SCHEME}://", engine=db.engine)


def add_failure(origin: Origin, owner: Counter) -> None:
    """Count one failure on ``owner``'s counter alone, refusing nothing: for an attempt that
    was counted on other counters before its owner was known (a passkey assertion names its
    credential, and so its owner's username, only once it is looked up). Call it with no write
    waiting for its commit."""
    attempts = counters()
    for limit in attempts.limits:
        attempts.hit(limit, owner, origin)
