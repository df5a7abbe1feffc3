"""Recovery codes: the set a user with TOTP on keeps for a lost authenticator, shown once.

Stored as hashes (``credentials.one_time_codes`` says why a plain SHA-256 is right for them).
Every write of a set holds a lock on the user's row until its commit (``mfa`` turning TOTP on
takes it by its compare-and-swap, ``regenerate`` below by ``_lock_totp_user``): a new set ends
every older one and no two are ever live together, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from api.audit_writer import audit
from api.credentials import one_time_codes
from api.database import db
from api.errors import Conflict, InvalidCredentials
from api.models import RecoveryCode, User, utcnow
from api.origin import Origin
from api.services import notices

TOTP_OFF = "TOTP is not on: recovery codes come with it"


def replace(user_id: int, codes: list[str]) -> None:
    """Make ``codes`` the user's only recovery codes, in the current transaction, whose
    caller holds the lock on the user's row."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    now = utcnow()
    db.session.add_all(
        RecoveryCode(
            user_id=user_id, code_hash=one_time_codes.recovery_code_hash(code), created_at=now
        )
        for code in codes
    )


def regenerate(user_id: int, session_id: str, *, origin: Origin) -> list[str]:
    """Replace the user's recovery codes; the old ones stop working. Return the new ones.

    The new set is written only over the set this request found: of a double submit, one
    answers the live set and the other 409, never a set the first had already ended.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidCredentials("user deleted")
    if not user.mfa_enabled:
        raise Conflict(TOTP_OFF)
    found = _current_set(user_id)
    codes = one_time_codes.new_recovery_codes()  # made before the lock: it holds writers off
    _lock_totp_user(user_id)
    if _current_set(user_id) != found:
        db.session.rollback()
        raise Conflict("another request replaced the recovery codes meanwhile: use its set")
    replace(user_id, codes)
    notices.notify(user_id, "recovery_codes_renewed", origin)
    audit("recovery_codes_regenerated", origin=origin, user_id=user_id, session_id=session_id)
    db.session.commit()
    return codes


def _current_set(user_id: int) -> str | None:
    """Name the user's current set by its smallest hash (each set's hashes are new and
    unique); None when there is no set."""
    return db.session.scalar(
        select(func.min(RecoveryCode.code_hash)).where(RecoveryCode.user_id == user_id)
    )


def _lock_totp_user(user_id: int) -> None:
    """Lock the user's row until the commit if TOTP is on; else roll back and refuse.

    A write on the row: PostgreSQL locks it (a second request waits, then reads what the
    first committed) and SQLite takes its one write lock, so what is read next is the latest.
    """
    locked = db.session.execute(
        update(User)
        .where(User.id == user_id, User.totp_secret.is_not(None))
        .values(totp_last_step=User.totp_last_step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if locked != 1:
        db.session.rollback()
        if db.session.get(User, user_id) is None:
            raise InvalidCredentials("user deleted")
        raise Conflict(TOTP_OFF)
