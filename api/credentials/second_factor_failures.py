"""Wrong second-factor codes, counted per account: a growing delay, then recovery codes only.

The per-minute counters (``failed_attempts``) bound guessing by the minute, not by the account:
with the password, an attacker gets new ``mfa_token``s at will, from any number of addresses.
So every code checked for a user also counts on the user's row, across every ``mfa_token``:

- the first ``FREE_FAILURES`` wrong codes in a row cost nothing more;
- after the n-th (n >= 5), the next TOTP code waits ``delay(n)`` = 2**(n - 5) seconds, capped
  at ``MAX_DELAY`` (an hour): 429 with ``Retry-After`` until then;
- after ``LOCKOUT_FAILURES`` (100, NIST SP 800-63B 5.2.2) a TOTP code, even the right one, is
  refused until a recovery code succeeds or an administrator runs ``users mfa-reset``;
- a right code or recovery code starts the count again.

A recovery code never waits: it has 80 random bits, so guessing one is hopeless at any rate
(the per-minute counters still apply), and it is how the owner gets past the delay that an
attacker who holds the password keeps running, or past the lockout. A wrong one counts too.

The bound. A random 6-digit guess matches one of the three steps accepted (now, one before,
one after) with probability at most ``CODE_CHANCE`` = 3 / 10**6. One run of wrong codes
admits at most ``most_guesses(seconds)`` codes in ``seconds``: 10 in a minute, 16 in an hour,
39 in a day, and 100 in any longer time (a week alone would allow 183, but the lockout comes
at 100). So a week of guessing with no right code in between succeeds with a chance of at most
100 * 3 / 10**6 = 0.03 %; should the owner log in once a day (each right code starting a new
run), 7 * 39 guesses: 0.082 %. Before, 825 guesses an hour made it 34 % a week.

Every attempt is counted before its code is checked, by one conditional UPDATE that also sets
the next code's time, in the transaction that checks the code: a right code resets the count
there, a wrong one commits it. Of concurrent attempts each counts, and none passes the delay:
the UPDATE holds the row (PostgreSQL) or the database (SQLite) until that commit, and on
PostgreSQL a waiting UPDATE checks its condition again against the committed row.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from itertools import count

import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified

from api.audit_writer import audit
from api.database import db
from api.errors import InvalidCredentials, ServiceError, TooManyAttempts
from api.models import User, UTCDateTime
from api.origin import Origin
from api.refusal_tally import count_refusal

FREE_FAILURES = 5
FIRST_DELAY = 1  # seconds, after the FREE_FAILURES-th wrong code
MAX_DELAY = 3600
LOCKOUT_FAILURES = 100
CODE_CHANCE = 3 / 10**6
LOCKED = (
    f"TOTP codes are refused after {LOCKOUT_FAILURES} wrong codes in a row: use a recovery "
    "code, or ask an administrator to reset the second factor"
)


def delay(failures: int) -> int:
    """Return the seconds the next TOTP code waits after ``failures`` wrong codes in a row."""
    if failures < FREE_FAILURES:
        return 0
    return min(FIRST_DELAY * 2 ** min(failures - FREE_FAILURES, 32), MAX_DELAY)


# The first count whose delay is the cap: past it, the next code's time needs no table.
CAPPED_FROM = next(n for n in count(FREE_FAILURES) if delay(n) >= MAX_DELAY)


def most_guesses(seconds: float) -> int:
    """Return the most TOTP codes one run of wrong codes admits within ``seconds``."""
    elapsed, guesses = 0, 1  # the first guess comes at once
    while guesses < LOCKOUT_FAILURES and elapsed + delay(guesses) <= seconds:
        elapsed += delay(guesses)
        guesses += 1
    return guesses


def seconds_to_wait(failures: int, retry_at: datetime | None, now: datetime) -> int:
    """Return how long a TOTP code must wait still (0: it may come now)."""
    if failures < FREE_FAILURES or retry_at is None or retry_at <= now:
        return 0
    return max(1, math.ceil((retry_at - now).total_seconds()))


def refuse_early(
    user: User, recovery: bool, now: datetime, *, origin: Origin, event: str, locked: ServiceError
) -> None:
    """Raise while the user's row takes no TOTP code at ``now``: ``locked`` after the lockout,
    429 during a delay. Reads nothing: the row as loaded decides, before any secret is checked.

    Neither refusal checks a code or proves anything, so neither writes an audit row; both
    are counted (``refusal_tally``).
    """
    if recovery:
        return
    if user.mfa_failures >= LOCKOUT_FAILURES:
        count_refusal(event, "second factor locked", origin=origin, user_id=user.id)
        raise locked
    wait = seconds_to_wait(user.mfa_failures, user.mfa_retry_at, now)
    if wait:
        count_refusal("rate_limited", "account", origin=origin, user_id=user.id)
        raise TooManyAttempts(wait)


def count_attempt(
    user: User, recovery: bool, now: datetime, *, origin: Origin, event: str, locked: ServiceError
) -> int:
    """Count the code about to be checked on the user's row; return the count, this one in.

    Call it after ``refuse_early``, just before the code is checked, with nothing between it
    and the commit that waits (a Redis call, a password hash). A TOTP code that a concurrent
    attempt got ahead of is refused as ``refuse_early`` refuses it.
    """
    failures = User.mfa_failures + 1
    admitted = [User.id == user.id]
    if not recovery:
        admitted += [
            User.mfa_failures < LOCKOUT_FAILURES,
            sa.or_(User.mfa_retry_at.is_(None), User.mfa_retry_at <= now),
        ]
    counted = db.session.execute(
        sa.update(User)
        .where(*admitted)
        .values(mfa_failures=failures, mfa_retry_at=_next_code_at(failures, now))
        .returning(User.mfa_failures)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if counted is not None:
        return counted
    db.session.rollback()  # the UPDATE may hold SQLite's write lock
    fresh = db.session.get(User, user.id, populate_existing=True)
    if fresh is None:
        raise InvalidCredentials("user deleted")
    refuse_early(fresh, recovery, now, origin=origin, event=event, locked=locked)
    # The row changed again meanwhile (a right code reset it): a moment later, it may pass.
    count_refusal("rate_limited", "account", origin=origin, user_id=user.id)
    raise TooManyAttempts(1)


def _next_code_at(failures: sa.ColumnElement[int], now: datetime) -> sa.ColumnElement:
    """The time the code after the ``failures``-th may come: NULL while it need not wait."""

    def at(seconds: int) -> sa.ColumnElement:
        return sa.literal(now + timedelta(seconds=seconds), UTCDateTime())

    return sa.case(
        (failures < FREE_FAILURES, sa.null()),
        *((failures == n, at(delay(n))) for n in range(FREE_FAILURES, CAPPED_FROM)),
        else_=at(MAX_DELAY),
    )


def forgive(user: User) -> None:
    """Start the user's count again: a right code or recovery code was given.

    Set on the loaded row and written by the transaction's next flush of it (a login's
    ``last_login_at``: no statement of its own). The row was counted in this transaction,
    so no one deleted it meanwhile: it is held until the commit.
    """
    user.mfa_failures = 0
    user.mfa_retry_at = None
    # Written even when the loaded values look the same: the count changed them behind the ORM.
    flag_modified(user, "mfa_failures")
    flag_modified(user, "mfa_retry_at")


def record_wrong(
    failures: int, *, origin: Origin, user_id: int, session_id: str | None = None
) -> None:
    """Record, in the refusal's transaction, that a wrong code made the ``failures``-th in a
    row; the one that reaches the lockout is an event of its own."""
    if failures == LOCKOUT_FAILURES:
        audit(
            "mfa_locked",
            origin=origin,
            user_id=user_id,
            session_id=session_id,
            failures=failures,
        )
