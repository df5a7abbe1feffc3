"""Whether a client address is over its limit of failed attempts, without counting one.

An attempt whose secret cannot be guessed (a passkey's signed assertion) is no guess to
count: only its failures are (``failed_attempts.add_failure``). It is still refused while
its address is over the limit, as a password would be. With the database store the check is
a SQL condition, so that the use case's own statement carries it and a success pays no
statement for it; with Redis it is answered at once.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from limits.errors import StorageError
from sqlalchemy.sql.elements import ColumnElement

from api.credentials import attempt_store, failed_attempts
from api.errors import TooManyAttempts, Unavailable
from api.models import AttemptCounter
from api.origin import Origin
from api.refusal_tally import count_refusal

ADDRESS = "address"
_TABLE = AttemptCounter.__table__


def within(origin: Origin) -> ColumnElement[bool]:
    """A condition true while the origin's address is within every limit, to go in the
    WHERE of the statement that would let the attempt through."""
    counters = failed_attempts.counters()
    if not isinstance(counters.storage, attempt_store.AttemptStore):
        return sa.true() if _over(counters, origin) is None else sa.false()
    spent = [
        sa.and_(
            _TABLE.c.key == limit.key_for(counters.prefix, ADDRESS, origin.address),
            _TABLE.c.count >= limit.amount,
        )
        for limit in counters.limits
    ]
    running = _TABLE.c.expires_at > time.time()
    return ~sa.exists().where(running, sa.or_(*spent))


def refuse_if_over(origin: Origin) -> None:
    """Raise TooManyAttempts, with the longest wait, while the address is over a limit."""
    counters = failed_attempts.counters()
    reset = _over(counters, origin)
    if reset is None:
        return
    count_refusal("rate_limited", ADDRESS, origin=origin)
    raise TooManyAttempts(max(1, int(reset - time.time()) + 1))


def _over(counters: failed_attempts.FailedAttempts, origin: Origin) -> float | None:
    """Return when the longest spent window of the address ends, or None if none is spent.

    A Redis that does not answer fails open or closed, as configured (``RATE_LIMIT_FAIL_OPEN``).
    """
    resets = []
    for limit in counters.limits:
        try:
            stats = counters.strategy.get_window_stats(
                limit, counters.prefix, ADDRESS, origin.address
            )
        except StorageError:
            if counters.fail_open:
                return None
            raise Unavailable(
                "login is unavailable: the rate-limit store does not answer",
                headers={"Retry-After": "5"},
            ) from None
        if stats.remaining == 0:
            resets.append(stats.reset_time)
    return max(resets) if resets else None
