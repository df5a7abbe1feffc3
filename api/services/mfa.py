"""A second factor: enrolling TOTP, checking a code or a recovery code, a login's challenge.

A TOTP secret is kept encrypted (``credentials.secret_box``), a recovery code as its hash
(``credentials.one_time_codes`` says why a plain SHA-256 is right for them). A code is
accepted by a compare-and-swap on the user's last accepted time step, a recovery code by one
on its ``used_at``: of two requests with the same code, exactly one wins, on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from api.audit_writer import audit
from api.credentials import failed_attempts, one_time_codes, secret_box, signed_tokens
from api.database import db
from api.errors import Conflict, Invalid, InvalidCredentials, NotFound
from api.models import MfaChallenge, RecoveryCode, User, utcnow
from api.origin import Origin
from api.services import notices, passkeys, recovery_codes
from api.services.sessions import revoke_sessions

# Wrong codes that spend a login's challenge: its mfa_token then works no more.
MAX_CHALLENGE_FAILURES = 5
TOTP = "totp"
RECOVERY_CODE = "recovery_code"


class SecondFactorRequired(InvalidCredentials):
    """The right password of a user with TOTP on: the login waits for a code.

    Not a failed attempt. The problem document carries the ``mfa_token`` for the second step.
    """

    def __init__(self, mfa_token: str, expires_in: int) -> None:
        super().__init__(
            "a second factor is required: send the mfa_token and a code to POST /login/mfa",
            extra={"mfa_required": True, "mfa_token": mfa_token, "mfa_expires_in": expires_in},
        )


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidCredentials("user deleted")
    return user


def status(user_id: int) -> dict:
    """Return whether TOTP is on for the user, how many recovery codes are left, and how many
    passkeys can log them in."""
    user = _user(user_id)
    return {
        "totp": user.mfa_enabled,
        "recovery_codes_left": codes_left(user_id),
        "passkeys": passkeys.count_usable(user_id),
    }


def codes_left(user_id: int) -> int:
    """Return how many unused recovery codes the user has."""
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )


def start_enrolment(user_id: int, session_id: str, *, origin: Origin) -> Enrolment:
    """Make a new TOTP secret, pending until a code confirms it; replace any pending one."""
    user = _user(user_id)
    if user.mfa_enabled:
        raise Conflict("TOTP is already on: turn it off first (DELETE /mfa/totp)")
    secret = one_time_codes.new_secret()
    user.totp_pending_secret = secret_box.box().encrypt(secret)
    uri = one_time_codes.provisioning_uri(secret, user.username, current_app.config["MFA_ISSUER"])
    audit("mfa_enrolment_started", origin=origin, user_id=user_id, session_id=session_id)
    db.session.commit()
    return Enrolment(secret, uri, one_time_codes.qr_svg(uri))


def confirm_enrolment(user_id: int, session_id: str, code: str, *, origin: Origin) -> list[str]:
    """Turn TOTP on with a code of the pending secret; end every other session of the user.

    Return the new recovery codes, which are shown once. A wrong code is a failed attempt. Of
    two requests with one code, the compare-and-swap in ``_turn_on`` lets exactly one succeed.
    """
    user = _user(user_id)
    if user.mfa_enabled:
        raise Conflict("TOTP is already on")
    pending = user.totp_pending_secret
    if pending is None:
        raise Conflict("no enrolment to confirm: start one with POST /mfa/totp")
    attempt = failed_attempts.count(origin, failed_attempts.username(user.username_key))
    secret = secret_box.box().decrypt(pending)
    step = one_time_codes.accepted_step(secret, code, utcnow().timestamp(), None)
    if step is None:
        failed_attempts.refuse_wrong_secret(
            origin,
            Invalid("wrong code", {"code": ["Wrong code: not the authenticator's current one."]}),
            "mfa_enabled",
            user_id=user_id,
            session_id=session_id,
        )
    attempt.give_back()  # before anything is written: it may wait on the store
    codes = one_time_codes.new_recovery_codes()
    _turn_on(user_id, pending, step)
    recovery_codes.replace(user_id, codes)
    ended = revoke_sessions(user_id, keep_session_id=session_id)
    notices.notify(user_id, "totp_enabled", origin)
    audit(
        "mfa_enabled",
        origin=origin,
        user_id=user_id,
        session_id=session_id,
        sessions_ended=ended,
    )
    db.session.commit()
    return codes


def _turn_on(user_id: int, pending: str, step: int) -> None:
    """Make ``pending`` the TOTP secret, if it still is the pending one and TOTP is off.

    A compare-and-swap on the user's row, which stays locked until the commit (the lock under
    which ``recovery_codes`` are written): of two requests that read the same enrolment, the
    second finds it gone and is refused.
    """
    claimed = db.session.execute(
        update(User)
        .where(
            User.id == user_id,
            User.totp_secret.is_(None),
            User.totp_pending_secret == pending,
        )
        .values(totp_secret=pending, totp_pending_secret=None, totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        if _user(user_id).mfa_enabled:
            raise Conflict("TOTP is already on")
        raise Conflict("the enrolment was replaced: confirm a code of the newest secret")


def _turn_off(user_id: int) -> None:
    """Turn TOTP off, drop the recovery codes and spend live challenges, in this transaction;
    the count of wrong codes starts again (``users mfa-reset`` ends a lockout)."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            totp_secret=None,
            totp_pending_secret=None,
            totp_last_step=None,
            mfa_failures=0,
            mfa_retry_at=None,
        )
    )
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    spend_challenges(user_id)


def spend_challenges(user_id: int) -> int:
    """Spend the user's open challenges, in the current transaction: their ``mfa_token``s
    check no code again (TOTP turned off, a new password). Return how many were open."""
    return db.session.execute(
        update(MfaChallenge)
        .where(MfaChallenge.user_id == user_id, MfaChallenge.spent_at.is_(None))
        .values(spent_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount


def disable_totp(user_id: int, session_id: str, *, origin: Origin) -> None:
    """Turn TOTP and the recovery codes off; the next login asks for the password alone."""
    if not _user(user_id).mfa_enabled:
        raise Conflict("TOTP is not on")
    _turn_off(user_id)
    notices.notify(user_id, "totp_disabled", origin)
    audit("mfa_disabled", origin=origin, user_id=user_id, session_id=session_id)
    db.session.commit()


def reset(user_id: int, *, origin: Origin) -> int | None:
    """Turn a user's TOTP off and end their sessions (the CLI's ``users mfa-reset``).

    Return how many sessions ended, or None for a user without TOTP: nothing is theirs to
    reset, so nothing changes and no event is written (the operator is told so). Their
    personal access tokens stay (``users revoke``).
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if not user.mfa_enabled:
        return None
    _turn_off(user_id)
    ended = revoke_sessions(user_id)
    notices.notify(user_id, "totp_disabled", origin)
    audit("mfa_reset", origin=origin, user_id=user_id, sessions_ended=ended)
    db.session.commit()
    return ended


def open_challenge(
    user: User, *, dpop_jkt: str | None = None, device_id: str | None = None
) -> SecondFactorRequired:
    """Start the second step of ``user``'s login, in the current transaction (the caller
    commits); return the refusal that carries its ``mfa_token``. With ``dpop_jkt``, the
    first step's DPoP key, the second step must prove the same key. With ``device_id``, the
    device whose valid token the first step sent, the ``mfa_token`` names it, and the second
    step counts on that device's counter as the first did.

    The user's spent and expired challenges go, so their number stays small.
    """
    now = utcnow()
    max_age = int(current_app.config["MFA_TOKEN_MAX_AGE"])
    db.session.execute(
        delete(MfaChallenge).where(
            MfaChallenge.user_id == user.id,
            or_(MfaChallenge.spent_at.is_not(None), MfaChallenge.expires_at < now),
        )
    )
    challenge = MfaChallenge(
        id=secrets.token_urlsafe(16),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=max_age),
        failures=0,
        dpop_jkt=dpop_jkt,
    )
    db.session.add(challenge)
    token = signed_tokens.codec().issue(
        signed_tokens.MFA, signed_tokens.MfaClaims(user.id, challenge.id, device_id)
    )
    return SecondFactorRequired(token, max_age)


def check_second_factor(
    user: User, code: str | None, recovery_code: str | None, now: datetime
) -> str | None:
    """Accept ``code`` (or ``recovery_code``) for ``user`` in the current transaction.

    Return which factor was accepted (``TOTP`` or ``RECOVERY_CODE``), or None: a wrong code,
    one already used, or one older than the last accepted. Costs at most three HMACs and one
    write; never a password hash.
    """
    if user.totp_secret is None:
        return None
    if recovery_code is not None:
        used = db.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == one_time_codes.recovery_code_hash(recovery_code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
        ).rowcount
        return RECOVERY_CODE if used == 1 else None
    if code is None:
        return None
    secret = secret_box.box().decrypt(user.totp_secret)
    step = one_time_codes.accepted_step(secret, code, now.timestamp(), user.totp_last_step)
    if step is None:
        return None
    # Compare-and-swap: a concurrent request that accepted this step (or a newer) first wins.
    claimed = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            User.totp_secret.is_not(None),
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    return TOTP if claimed == 1 else None
