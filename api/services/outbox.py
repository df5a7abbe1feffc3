"""The outbox: every mail is a row written in the transaction of the change it reports.

``add_mail`` joins the caller's transaction, so a change rolled back leaves no mail and a
change committed never lacks its mail. The body is encrypted with the key that encrypts TOTP
secrets (``secret_box``) and dropped once sent: a copy of the database holds no usable token.

Senders (``mail_delivery``) take mails by claiming rows: a claim is written and committed
before anything is sent, and only a row no live claim holds can be claimed, so two senders,
in one process or on two hosts, never send one mail twice. On PostgreSQL the candidates are
read ``FOR UPDATE SKIP LOCKED`` (a second sender takes other rows instead of waiting); on
SQLite, which has one writer at a time, the conditional UPDATE alone decides.

A row sent (a decoy is written sent) is kept until ``prune_sent`` deletes it; a mail still
waiting is never pruned, however old: the mail server owes it still.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from api.audit_writer import audit
from api.credentials import secret_box
from api.database import db
from api.errors import Invalid
from api.models import OutboxMail, utcnow
from api.origin import Origin

# Set on the session when a mail joins its transaction: its commit wakes the sender.
MAIL_ADDED = "tessera.outbox.added"
# How long a claim holds a mail: far longer than one SMTP conversation may take.
CLAIM_SECONDS = 300
# Waits between tries of a mail the server refused: 30 s, doubling, at most an hour.
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600
ERROR_LENGTH = 200
# The kind of ``add_decoy``'s rows: never sent, never listed.
DECOY = "decoy"


@dataclass(frozen=True)
class ClaimedMail:
    """A mail a sender holds: what to send, and the claim that lets it record the outcome."""

    id: int
    recipient: str
    subject: str
    kind: str
    text: str
    attempts: int
    claim: str


def add_mail(recipient: str, kind: str, subject: str, text: str) -> None:
    """Add a mail to the current transaction; the caller's commit writes it (and wakes the
    sender). ``recipient`` is an address ``credentials.addresses`` accepted."""
    db.session.add(
        OutboxMail(
            recipient=recipient,
            subject=subject,
            kind=kind,
            body=secret_box.box().encrypt(text),
            next_attempt_at=utcnow(),
        )
    )
    db.session.info[MAIL_ADDED] = True


def add_decoy(text: str) -> None:
    """Add to the current transaction the row ``add_mail`` would, for a mail to no one: its
    body encrypted and dropped, marked handled, so no sender takes it and no list shows it.

    A request that mails nobody (an unknown address) does the work of one that mails someone,
    so its answer's timing does not tell them apart.
    """
    secret_box.box().encrypt(text)
    now = utcnow()
    db.session.add(
        OutboxMail(
            recipient="", subject="", kind=DECOY, body=None, next_attempt_at=now, sent_at=now
        )
    )


def _waiting():
    return OutboxMail.sent_at.is_(None)


def waiting_count() -> int:
    """Return how many mails wait to be sent."""
    return db.session.scalar(select(func.count()).select_from(OutboxMail).where(_waiting()))


def next_attempt_in(now: datetime) -> float | None:
    """Return the seconds until the next waiting mail is due (0 if one is), None if none waits."""
    due = db.session.scalar(select(func.min(OutboxMail.next_attempt_at)).where(_waiting()))
    db.session.rollback()
    if due is None:
        return None
    return max(0.0, (due - now).total_seconds())


def list_mails(pending_only: bool) -> list[OutboxMail]:
    """Return the outbox's mails, oldest first; with ``pending_only`` only those waiting."""
    query = select(OutboxMail).where(OutboxMail.kind != DECOY).order_by(OutboxMail.id)
    if pending_only:
        query = query.where(_waiting())
    return list(db.session.scalars(query))


def claim_mails(limit: int, due_only: bool = True) -> list[ClaimedMail]:
    """Claim up to ``limit`` waiting mails (those due, or all) and commit the claim.

    Nothing is sent inside this transaction: the claim is committed first, then the sender
    talks to the mail server with no write waiting on it.
    """
    now = utcnow()
    free = or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now)
    candidates = select(OutboxMail.id).where(_waiting(), free).order_by(OutboxMail.id).limit(limit)
    if due_only:
        candidates = candidates.where(OutboxMail.next_attempt_at <= now)
    ids = list(db.session.scalars(candidates.with_for_update(skip_locked=True)))
    if not ids:
        db.session.rollback()
        return []
    claim = secrets.token_urlsafe(16)
    db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id.in_(ids), _waiting(), free)
        .values(claim=claim, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    db.session.commit()
    rows = db.session.execute(
        select(
            OutboxMail.id,
            OutboxMail.recipient,
            OutboxMail.subject,
            OutboxMail.kind,
            OutboxMail.body,
            OutboxMail.attempts,
        )
        .where(OutboxMail.claim == claim)
        .order_by(OutboxMail.id)
    ).all()
    db.session.rollback()
    box = secret_box.box()
    return [
        ClaimedMail(
            row.id, row.recipient, row.subject, row.kind, box.decrypt(row.body), row.attempts, claim
        )
        for row in rows
    ]


def record_sent(mail: ClaimedMail, *, origin: Origin) -> None:
    """Mark a claimed mail sent and drop its body, with its event, in one commit."""
    db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail.id, OutboxMail.claim == mail.claim)
        .values(sent_at=utcnow(), body=None, claim=None, claimed_until=None)
    )
    audit("mail_sent", origin=origin, mail_id=mail.id, kind=mail.kind, attempts=mail.attempts + 1)
    db.session.commit()


def record_failure(mail: ClaimedMail, error: str, *, origin: Origin) -> None:
    """Release a claimed mail the server did not take, due again after a growing wait."""
    attempts = mail.attempts + 1
    wait = min(FIRST_RETRY_SECONDS * 2 ** min(attempts - 1, 16), LONGEST_RETRY_SECONDS)
    db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail.id, OutboxMail.claim == mail.claim)
        .values(
            attempts=attempts,
            last_error=error[:ERROR_LENGTH],
            next_attempt_at=utcnow() + timedelta(seconds=wait),
            claim=None,
            claimed_until=None,
        )
    )
    audit(
        "mail_failed",
        "failure",
        origin=origin,
        mail_id=mail.id,
        kind=mail.kind,
        attempts=attempts,
        error=error[:ERROR_LENGTH],
    )
    db.session.commit()


def prune_sent(older_than_days: int, *, origin: Origin) -> int:
    """Delete the mails sent (decoys included) more than that many days ago; return how many.

    One DELETE, on ``sent_at`` (the first column of an index): a mail waiting has none, so it
    is kept whatever its age. The pruning is an event.
    """
    if older_than_days < 1:
        raise Invalid("mails can be pruned only when at least one day old")
    try:
        cutoff = utcnow() - timedelta(days=older_than_days)
    except OverflowError:
        deleted = 0  # a cutoff before the year 1: no mail was sent that long ago
    else:
        mails = OutboxMail.__table__
        deleted = db.session.execute(mails.delete().where(mails.c.sent_at < cutoff)).rowcount
    audit("mail_pruned", origin=origin, mails_deleted=deleted, older_than_days=older_than_days)
    db.session.commit()
    return deleted
