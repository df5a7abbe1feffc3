"""How often mail may be asked for: ``MAIL_RATE_LIMIT`` per client address and per target.

Counted in the same exact store as failed logins (``failed_attempts``: the database, or Redis),
under counts of their own. Every request that may send a mail counts, known address or not,
before anything is looked up, so the 429 tells nothing about who has an account.
"""

from __future__ import annotations

from flask import Flask, current_app
from limits import parse_many

from api.credentials import failed_attempts
from api.credentials.failed_attempts import Counter, FailedAttempts
from api.database import db
from api.origin import Origin

EXTENSION = "tessera.mail_attempts"
# The target counter's key for an address no one can have: one bucket.
INVALID_ADDRESS_KEY = "-"


def count_mail_request(origin: Origin, address_key: str | None) -> None:
    """Count one mail asked for by ``origin`` to the address of ``address_key``; raise
    TooManyAttempts (429) when either count is over the limit. Call it before any write."""
    db.session.rollback()  # hold no pooled connection while the store takes one
    throttle: FailedAttempts = current_app.extensions[EXTENSION]
    throttle.count(origin, Counter("email", address_key or INVALID_ADDRESS_KEY))


def init_app(app: Flask) -> None:
    """Make the app's mail counters, over the store the failed-attempt counters use."""
    with app.app_context():
        attempts = failed_attempts.counters()
    app.extensions[EXTENSION] = FailedAttempts(
        attempts.storage,
        parse_many(app.config["MAIL_RATE_LIMIT"]),
        f"{app.config['RATE_LIMIT_KEY_PREFIX']}.mail",
        attempts.fail_open,
    )
