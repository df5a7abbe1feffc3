"""The database tables: users, their login sessions, personal access tokens, second factors,
notes, the audit trail and the failed-attempt counters.

No HTTP, and no token: a row names a token's id, never holds the token. No secret in the clear
either: a TOTP secret is stored encrypted (``credentials.secret_box``), a recovery code as its
hash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.database import db

# The largest value an INTEGER column holds on every backend: an id past it names no row, and
# a value past it sent to PostgreSQL would be an error, not an empty answer.
MAX_ID = 2**31 - 1
# SQLite hands a new row the largest id in use plus one, so a deleted newest row's id came back;
# with AUTOINCREMENT it never does (PostgreSQL's sequences never did). For every table whose id
# leaves the database: in a token, an event or a URL.
IDS_NEVER_REUSED = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A UTC timestamp that comes back timezone-aware from SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _refusal(
    what: str,
    revoked_at: datetime | None,
    expires_at: datetime,
    user_is_active: bool,
    now: datetime,
) -> str | None:
    if revoked_at is not None:
        return f"{what} revoked"
    if expires_at <= now:
        return f"{what} expired"
    if not user_is_active:
        return "user deactivated"
    return None


def session_refusal(
    revoked_at: datetime | None, expires_at: datetime, user_is_active: bool, now: datetime
) -> str | None:
    """Say why a login session admits no token at ``now``, or None when it does."""
    return _refusal("session", revoked_at, expires_at, user_is_active, now)


def personal_token_refusal(
    revoked_at: datetime | None, expires_at: datetime, user_is_active: bool, now: datetime
) -> str | None:
    """Say why a personal access token is refused at ``now``, or None when it is not."""
    return _refusal("token", revoked_at, expires_at, user_is_active, now)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    # Lower-cased username: uniqueness and login ignore case on every database.
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # How many notes the user owns, kept in the transaction that adds or removes one, so a
    # page of notes costs the same whether the user has ten notes or a million.
    note_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The TOTP secret in use, encrypted; None while TOTP is off.
    totp_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # An enrolment begun and not yet confirmed with a code, encrypted.
    totp_pending_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The newest time step whose code was accepted: that code and older ones never work again.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Wrong second-factor codes in a row, across every mfa_token and address, and when the
    # next TOTP code may come (``credentials.second_factor_failures``).
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    mfa_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The account's address as its owner wrote it, and lower-cased: unique regardless of case.
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    email_key: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # Whether its owner followed a link mailed to it (an administrator's word is not enough).
    email_verified: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )

    sessions: Mapped[list[LoginSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    notes: Mapped[list[Note]] = relationship(
        back_populates="owner", cascade="all, delete-orphan", passive_deletes=True
    )
    personal_tokens: Mapped[list[PersonalToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def mfa_enabled(self) -> bool:
        """Whether logging in asks for a second factor (TOTP is on)."""
        return self.totp_secret is not None

    # A unique index, not a constraint: SQLite adds it without making the table again.
    __table_args__ = (Index("ix_users_email_key", "email_key", unique=True), IDS_NEVER_REUSED)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class LoginSession(db.Model):
    """One login: the server-side record every token of that login points to."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    # Which refresh token is the live one: bumped by every refresh, never the token itself.
    refresh_generation: Mapped[int] = mapped_column(Integer, default=0)
    # When the generation last moved: a spent token presented soon after is a client race.
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the user last proved themselves in this session (a login, a second step or a
    # reauthentication; never a refresh): what "fresh" is measured from.
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Opened by a user whom MFA_REQUIRED names before they had TOTP: its tokens carry
    # ``mfa:enroll`` alone, for as long as it lives.
    enrolment_only: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # How the user proved themselves when it opened: "password", "password+totp",
    # "password+recovery_code" or "passkey" (None: opened before sessions said).
    proof: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The RFC 7638 thumbprint of the DPoP key its tokens are bound to (None: bearer tokens).
    dpop_jkt: Mapped[str | None] = mapped_column(String(43), nullable=True)

    user: Mapped[User] = relationship(back_populates="sessions")

    __table_args__ = (Index("ix_login_sessions_user_created", "user_id", "created_at"),)

    def __repr__(self) -> str:
        return f"<LoginSession {self.id} user={self.user_id}>"


class PersonalToken(db.Model):
    """A personal access token's record: named, scoped, expiring. Never the token itself:
    the token names this row's id, and its signature proves it was made here."""

    __tablename__ = "personal_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # Space-separated, as OAuth writes scopes; what the user's role allows now still applies.
    scopes: Mapped[str] = mapped_column(String(100))
    # The signing key's public id: ``secret rotate --drop-old`` keeps keys live tokens name.
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Random, made with the row and signed into its token, which the loader matches in the
    # same statement: a row made again with this id (a restored or hand-edited database)
    # admits no older token. Not secret: without the signing key it makes no token. None in
    # rows made before tokens carried it, so that no token matches them.
    nonce: Mapped[str | None] = mapped_column(String(43), nullable=True)
    # The RFC 7638 thumbprint of the DPoP key the token is bound to (None: a bearer token).
    dpop_jkt: Mapped[str | None] = mapped_column(String(43), nullable=True)

    user: Mapped[User] = relationship(back_populates="personal_tokens")

    __table_args__ = (
        Index("ix_personal_tokens_user_created", "user_id", "created_at"),
        IDS_NEVER_REUSED,
    )

    @property
    def scope_list(self) -> list[str]:
        """The stored scopes, sorted."""
        return sorted(self.scopes.split())

    @property
    def dpop_bound(self) -> bool:
        """Whether the token works only with a DPoP proof of its key."""
        return self.dpop_jkt is not None

    def __repr__(self) -> str:
        return f"<PersonalToken {self.id} user={self.user_id}>"


class RecoveryCode(db.Model):
    """One single-use recovery code of a user with TOTP on, as its SHA-256 hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id} user={self.user_id}>"


class MfaChallenge(db.Model):
    """The second step of one login: what makes its ``mfa_token`` single-use.

    Spent by its success, by ``MAX_CHALLENGE_FAILURES`` wrong codes, or by its expiry.
    """

    __tablename__ = "mfa_challenges"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The DPoP key of the login's first step: its second step must prove the same one.
    dpop_jkt: Mapped[str | None] = mapped_column(String(43), nullable=True)

    def __repr__(self) -> str:
        return f"<MfaChallenge {self.id} user={self.user_id}>"


class Note(db.Model):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User] = relationship(back_populates="notes")

    __table_args__ = (
        Index("ix_notes_owner_created", "owner_id", "created_at", "id"),
        IDS_NEVER_REUSED,
    )

    def __repr__(self) -> str:
        return f"<Note {self.id} owner={self.owner_id}>"


class AuditEvent(db.Model):
    """One security event: what happened, to whom, by whom, from where, and its own fields.

    ``user_id`` and ``actor_id`` are no foreign keys: an event outlives the user it names.
    Pages are read newest first by id, so each filter has an index ending in ``id``.
    """

    __tablename__ = "audit_events"

    # 64-bit where the database has it: ids are never reused, whatever is pruned. SQLite
    # numbers rows itself only in an INTEGER PRIMARY KEY, which holds 64 bits there anyway
    # (and, with AUTOINCREMENT, never hands out a pruned one again).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    session_id: Mapped[str | None] = mapped_column(String(43))
    client: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_events_user_id", "user_id", "id"),
        Index("ix_audit_events_event", "event", "id"),
        IDS_NEVER_REUSED,
    )

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.event} {self.outcome}>"


class AttemptCounter(db.Model):
    """One window of one failed-attempt counter (``credentials.attempt_store``).

    ``key`` is the ``limits`` library's (the limit and whose attempts it counts); the window
    ends at ``expires_at``, in seconds since the epoch as ``time.time()`` tells them, so that
    every server compares it with the same clock the limits library uses. An ended window is
    as good as no row: the next attempt starts a new one in place, and pruning removes it.
    """

    __tablename__ = "attempt_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Double, index=True)
    count: Mapped[int] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<AttemptCounter {self.key}={self.count}>"


class MailTicket(db.Model):
    """What one mail token stands for: a sign-up waiting for its address, an invitation, an
    address to verify, a password reset or an account to secure (``services.mail_tickets``).

    The token names this row's random id and is signed; the row never holds the token. It is
    spent once (``spent_at``, a compare-and-swap); a reset also names the password hash it
    was asked under (``password_fingerprint``), so any change of the password ends it.
    """

    __tablename__ = "mail_tickets"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # A pending sign-up's chosen name and password hash: no account exists before the proof.
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    password_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<MailTicket {self.purpose} user={self.user_id}>"


class OutboxMail(db.Model):
    """One mail, written in the transaction of the change it reports (``services.outbox``).

    The body is encrypted with the key that encrypts TOTP secrets and dropped once the mail is
    sent. A sender claims a row (``claim``, until ``claimed_until``) before it sends, so two
    senders never send one mail; a refused try moves ``next_attempt_at`` on (backoff).
    """

    __tablename__ = "outbox_mails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claim: Mapped[str | None] = mapped_column(String(43), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_outbox_mails_waiting", "sent_at", "next_attempt_at"),
        IDS_NEVER_REUSED,
    )

    def __repr__(self) -> str:
        return f"<OutboxMail {self.id} {self.kind}>"


class Passkey(db.Model):
    """A user's passkey (a WebAuthn credential): its id and public key, never a secret.

    A credential id belongs to one account (unique). ``sign_count`` is the authenticator's
    counter as last seen (0 for one that keeps none); ``disabled_at`` is set when a counter
    that did not go up suggested a cloned authenticator: the passkey then logs no one in.
    """

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # base64url, as WebAuthn's JSON writes it: up to 1023 bytes make 1364 characters.
    credential_id: Mapped[str] = mapped_column(String(1364), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as registered
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(100))
    transports: Mapped[str] = mapped_column(String(200), default="")  # space-separated
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_passkeys_user_created", "user_id", "created_at"),
        IDS_NEVER_REUSED,
    )

    @property
    def transport_list(self) -> list[str]:
        """The transports the authenticator named, sorted."""
        return sorted(self.transports.split())

    def __repr__(self) -> str:
        return f"<Passkey {self.id} user={self.user_id}>"


class PasskeyUserHandle(db.Model):
    """The WebAuthn user handle of a user: random, never their id, name or address."""

    __tablename__ = "passkey_user_handles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    handle: Mapped[str] = mapped_column(String(43), unique=True)  # base64url of 32 bytes

    def __repr__(self) -> str:
        return f"<PasskeyUserHandle user={self.user_id}>"


class SpentPasskeyState(db.Model):
    """A passkey ceremony's state that was used: what makes each ``state`` single-use.

    Keyed by the state's challenge; kept until the state would have expired anyway.
    """

    __tablename__ = "spent_passkey_states"

    challenge: Mapped[str] = mapped_column(String(43), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    def __repr__(self) -> str:
        return f"<SpentPasskeyState {self.challenge[:8]}>"


class SeenDpopProof(db.Model):
    """A DPoP proof accepted once (``credentials.jti_replay``): the same proof again is a replay.

    ``key`` is the SHA-256 of the proof's key thumbprint and ``jti``; the row is needed until
    ``expires_at`` (seconds since the epoch), when the proof is too old to pass anyway, and
    pruning removes it.
    """

    __tablename__ = "seen_dpop_proofs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Double, index=True)

    def __repr__(self) -> str:
        return f"<SeenDpopProof {self.key[:8]}>"


class LoginNetwork(db.Model):
    """A network (an IPv4 /24, an IPv6 /48) a user logged in from, and when
    (``services.login_networks``): a login from one not seen for 90 days earns a notice.

    ``previous_seen`` keeps the ``last_seen`` a login replaced, so the one upsert that records
    a login also tells, in its RETURNING, whether the network was known before it.
    """

    __tablename__ = "login_networks"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    network: Mapped[str] = mapped_column(String(43), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    previous_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<LoginNetwork user={self.user_id} {self.network}>"
