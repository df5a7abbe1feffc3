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
    ForeignKey,
    Index,
    Integer,
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

    __table_args__ = (IDS_NEVER_REUSED,)

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

    user: Mapped[User] = relationship(back_populates="personal_tokens")

    __table_args__ = (
        Index("ix_personal_tokens_user_created", "user_id", "created_at"),
        IDS_NEVER_REUSED,
    )

    @property
    def scope_list(self) -> list[str]:
        """The stored scopes, sorted."""
        return sorted(self.scopes.split())

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
