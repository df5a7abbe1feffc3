"""DPoP replay: each proof is accepted once, across every process and host (RFC 9449 §11.1).

A proof is named by the SHA-256 of its key's thumbprint and its ``jti`` (so one client's ``jti``
never refuses another's) and remembered until the proof is too old to pass its ``iat`` check
anyway. The record is made after every other check of the proof has passed.

In Redis when ``REDIS_URL`` is set: one ``SET NX`` with the expiry, no statement at all. Else in
the database, on the ``seen_dpop_proofs`` table: ONE statement, an INSERT whose duplicate key
(a record still needed) makes it return no row, which is the replay; a record no longer needed
is taken over in the same statement. It runs in a transaction of its own, committed at once,
never in the request's, so nothing waits between its write and its commit (``api.event_loop``).
The records no proof needs any more are deleted at most once every ``PRUNE_EVERY`` seconds per
process, after a record: one more statement a minute.

A store that does not answer refuses the proof with a 503: a proof that cannot be recorded
could be replayed, so it is never accepted on trust.
"""

from __future__ import annotations

import hashlib
import time

import redis
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from api.credentials.dpop_proofs import Proof
from api.database import db
from api.errors import Unavailable
from api.models import SeenDpopProof

EXTENSION = "tessera.dpop_replay"
PRUNE_EVERY = 60  # seconds
# A Redis that does not answer must not hold a request up for long.
REDIS_TIMEOUT = 0.5  # seconds
_TABLE = SeenDpopProof.__table__
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
UNAVAILABLE = "DPoP proofs cannot be checked now: the replay store does not answer"


def record_key(proof: Proof) -> str:
    """The name a proof is remembered by: its key and ``jti``, hashed to a fixed length."""
    return hashlib.sha256(f"{proof.jkt}.{proof.jti}".encode()).hexdigest()


class DatabaseRecords:
    """Seen proofs in the ``seen_dpop_proofs`` table, on ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = _INSERTS[engine.dialect.name]
        self._prune_after = 0.0

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; tell whether it was not recorded (still needed)
        before. One statement."""
        statement = (
            self._insert(_TABLE)
            .values(key=key, expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=[_TABLE.c.key],
                set_={"expires_at": expires_at},
                where=_TABLE.c.expires_at <= now,
            )
            .returning(_TABLE.c.key)
        )
        with self.engine.begin() as connection:
            recorded = connection.execute(statement).first() is not None
            if now >= self._prune_after:
                self._prune_after = now + PRUNE_EVERY
                connection.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at <= now))
        return recorded


class RedisRecords:
    """Seen proofs as Redis keys under ``prefix`` that expire with the proof's window."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; tell whether it was not recorded before."""
        milliseconds = max(int(expires_at * 1000), int(now * 1000) + 1)
        try:
            return bool(self.client.set(f"{self.prefix}:dpop:{key}", 1, nx=True, pxat=milliseconds))
        except redis.RedisError:
            raise Unavailable(UNAVAILABLE, headers={"Retry-After": "5"}) from None


def first_use(proof: Proof, now: float | None = None) -> bool:
    """Record ``proof`` in the app's store; tell whether this is its first use (else a replay)."""
    now = time.time() if now is None else now
    records = current_app.extensions[EXTENSION]
    return records.first_use(record_key(proof), proof.expires_at, now)


def init_app(app: Flask) -> None:
    """Keep the app's records in Redis when ``REDIS_URL`` is set, else in its database."""
    url = app.config["REDIS_URL"]
    if url:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
        records: DatabaseRecords | RedisRecords = RedisRecords(
            client, app.config["RATE_LIMIT_KEY_PREFIX"]
        )
    else:
        with app.app_context():
            records = DatabaseRecords(db.engine)
    app.extensions[EXTENSION] = records
