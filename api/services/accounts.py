"""User accounts: creating, finding, changing and deleting users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from api.audit_writer import audit
from api.credentials import passwords, usernames
from api.credentials.usernames import normalize_username
from api.database import db
from api.errors import Conflict, Forbidden, Invalid, NotFound
from api.models import User
from api.origin import Origin
from api.services import email_addresses, mfa
from api.services.pages import Page, paginate
from api.services.personal_access_tokens import revoke_personal_tokens
from api.services.sessions import revoke_sessions

SELF_CHANGE_REFUSED = (
    "your own password is not set here: change it with POST /password, "
    "which asks for the current one"
)


def username_key(username: str) -> str | None:
    """Return the case-insensitive key a username is unique by, or None if it is invalid."""
    normalized = normalize_username(username)
    return normalized.lower() if normalized else None


def find_user(username: str) -> User | None:
    """Return the user of that name, whatever its case, or None."""
    key = username_key(username)
    if key is None:
        return None
    return db.session.scalar(select(User).where(User.username_key == key))


def get_user(username: str) -> User:
    """Return the user of that name or raise NotFound."""
    user = find_user(username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def check_new_password(password: str, username: str, field: str = "password") -> None:
    """Raise Invalid if ``password`` breaks the password rules; ``field`` names it as sent."""
    problems = passwords.password_problems(password, username)
    if problems:
        raise Invalid(f"password refused: {problems[0]}", {field: problems})


def create_user(
    username: str,
    password: str,
    is_admin: bool = False,
    *,
    origin: Origin,
    email: str | None = None,
) -> User:
    """Create a user; raise Invalid for a bad name, password or address, Conflict for a taken
    name or address. An address is unverified, and mailed a link that verifies it."""
    normalized = normalize_username(username)
    if normalized is None:
        raise Invalid(usernames.DETAIL, {"username": [usernames.FIELD_MESSAGE]})
    check_new_password(password, normalized)
    key = normalized.lower()
    if db.session.scalar(select(User.id).where(User.username_key == key)) is not None:
        raise Conflict(f"username {normalized!r} is taken")
    user = User(
        username=normalized,
        username_key=key,
        password_hash=passwords.hashing().hash(password),
        is_admin=is_admin,
    )
    db.session.add(user)
    try:
        db.session.flush()  # for the id the event names
        if email is not None:
            email_addresses.set_address(user, email)
        audit(
            "user_created", origin=origin, user_id=user.id, username=normalized, is_admin=is_admin
        )
        db.session.commit()
    except IntegrityError:
        # Another request took the name between our check and our insert.
        db.session.rollback()
        raise Conflict(f"username {normalized!r} is taken") from None
    return user


def list_users(page: int, per_page: int) -> Page[User]:
    """Return one page of users, oldest first."""
    return paginate(select(User).order_by(User.id), page, per_page)


def all_users() -> list[User]:
    """Return every user, oldest first (the CLI's listing)."""
    return list(db.session.scalars(select(User).order_by(User.id)))


def user_by_id(user_id: int) -> User:
    """Return the user with that id or raise NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def _lock_active_admins() -> None:
    """Make this transaction the only one changing who the active admins are, until it ends.

    PostgreSQL locks every active admin's row (``SELECT ... FOR UPDATE``): a second request
    waits, then sees the first one's change. SQLite has no row locks; a write statement first
    takes the database's one write lock for the whole transaction (the driver begins the
    transaction before it), so the count that follows reads the latest state.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(User).where(User.id == 0).values(is_admin=User.is_admin))
    else:
        db.session.execute(
            select(User.id)
            .where(User.is_admin.is_(True), User.is_active.is_(True))
            .with_for_update()
        )


def _refuse_losing_last_admin(user: User, change: str) -> None:
    """Raise Conflict if ``change`` would leave no active admin; hold the lock until commit."""
    _lock_active_admins()
    # Read again under the lock: another request may have won, or deleted the user.
    if db.session.get(User, user.id, populate_existing=True) is None:
        db.session.rollback()
        raise NotFound("no such user")
    if not (user.is_admin and user.is_active):
        return
    others = db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.is_admin.is_(True), User.is_active.is_(True), User.id != user.id)
    )
    if others == 0:
        db.session.rollback()
        raise Conflict(f"cannot {change} {user.username!r}: they are the last active admin")


def update_user(user: User, changes: dict[str, Any], *, origin: Origin) -> User:
    """Apply admin changes (``is_active``, ``is_admin``, ``password``) in one transaction.

    Deactivating a user or setting their password ends all their sessions; deactivating
    also ends their personal access tokens (reactivating them does not bring those back), and
    a new password their open ``mfa_token``s. An admin sets others' passwords, never their
    own: that takes the current one (``password_change``), which a stolen token lacks.
    """
    new_hash = _new_password_hash(user, changes, origin)  # before any lock: hashing waits
    if changes.get("is_active") is False:
        _refuse_losing_last_admin(user, "deactivate")
    if changes.get("is_admin") is False:
        _refuse_losing_last_admin(user, "demote")
    if new_hash is not None:
        user.password_hash = new_hash
    if "is_admin" in changes:
        user.is_admin = changes["is_admin"]
    if "is_active" in changes:
        user.is_active = changes["is_active"]
    if "email" in changes:
        email_addresses.set_address(user, changes["email"])
    revoked = tokens_ended = 0
    if changes.get("is_active") is False or "password" in changes:
        revoked = revoke_sessions(user.id)
    if "password" in changes:
        mfa.spend_challenges(user.id)
    if changes.get("is_active") is False:
        tokens_ended = revoke_personal_tokens(user.id)
    audit(
        "user_changed",
        origin=origin,
        user_id=user.id,
        fields=sorted(changes),
        sessions_ended=revoked,
        tokens_ended=tokens_ended,
    )
    db.session.commit()
    return user


def _new_password_hash(user: User, changes: dict[str, Any], origin: Origin) -> str | None:
    """Return the hash of the password ``changes`` set, if any, once it may be set."""
    if "password" not in changes:
        return None
    if origin.actor_id == user.id:
        raise Forbidden(SELF_CHANGE_REFUSED)
    check_new_password(changes["password"], user.username)
    return passwords.hashing().hash(changes["password"])


def delete_user(user: User, *, origin: Origin) -> None:
    """Delete ``user`` with their notes, sessions and personal access tokens, in one
    transaction; their events stay.

    The event keeps the username: once the user is gone, nothing else says whose id it was.
    """
    _refuse_losing_last_admin(user, "delete")
    audit("user_deleted", origin=origin, user_id=user.id, username=user.username)
    db.session.delete(user)
    db.session.commit()
