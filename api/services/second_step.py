"""Proofs after the password: a login's second step (``POST /login/mfa``) and a session's
renewed proof (``POST /reauthenticate``, RFC 9470's step-up).

Every code checked here, like every password, is counted before it is checked, and a right
one is given back: at ``/login/mfa`` for the client's address and the user's name, or the
device the ``mfa_token`` names (its first step sent that device's valid token), at
``/reauthenticate`` for the address and the session (so strangers who keep the name locked do
not lock out the owner's device or session); while either counter is over its limit even the
right code gets 429. Each code is counted on the account too (``second_factor_failures``):
wrong codes in a row, across every ``mfa_token``, make the next TOTP code wait longer, and
after 100 only a recovery code passes. And on its challenge: an ``mfa_token`` checks at most
``MAX_CHALLENGE_FAILURES`` codes, however many come at once.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import select, update

from api.audit_writer import audit
from api.credentials import failed_attempts, passwords, second_factor_failures, signed_tokens
from api.database import db
from api.errors import Forbidden, Invalid, InvalidCredentials, TooManyAttempts
from api.models import LoginSession, MfaChallenge, User, utcnow
from api.origin import Origin
from api.refusal_tally import count_refusal
from api.services import dpop_binding, login_networks, mfa
from api.services.sessions import TokenPair, open_session, token_pair

WRONG_CODE = "wrong code"
WRONG_PROOF = "wrong password or code"


class InvalidMfaToken(InvalidCredentials):
    """An ``mfa_token`` was refused; ``detail`` says why."""


def complete_login(
    mfa_token: str,
    code: str | None,
    recovery_code: str | None,
    *,
    origin: Origin,
    dpop_jkt: str | None = None,
) -> TokenPair:
    """Finish a login with the second factor: a TOTP code or a recovery code.

    The ``mfa_token`` names a challenge, spent by this success, by ``MAX_CHALLENGE_FAILURES``
    wrong codes or by its expiry. One HMAC for the token, at most three for the code, and no
    password hash: the password was checked at ``POST /login``. A token that fails its form,
    signature or expiry proves nothing: counted, not an audit row each.

    The code is counted before it is checked, on the per-minute counters (a write committed
    at once, so it comes before the others), on the account and on the challenge (in the
    transaction that checks it: a wrong code commits them, a right one spends the challenge).

    A challenge bound to the first step's DPoP key needs a proof of that key (``dpop_jkt``),
    refused before any code is counted; the session is bound to ``dpop_jkt``.
    """
    try:
        claims = signed_tokens.codec().verify(signed_tokens.MFA, mfa_token)
    except signed_tokens.TokenError as exc:
        count_refusal("mfa_challenge", exc.reason, origin=origin)
        raise InvalidMfaToken(exc.reason) from None
    now = utcnow()
    row = db.session.execute(
        select(MfaChallenge, User)
        .join(User, User.id == MfaChallenge.user_id)
        .where(MfaChallenge.id == claims.challenge_id, MfaChallenge.user_id == claims.user_id)
    ).first()
    reason = _challenge_refusal(row, now)
    if reason is not None:
        audit(
            "mfa_challenge",
            "failure",
            origin=origin,
            user_id=claims.user_id,
            refused=True,
            reason=reason,
        )
        raise InvalidMfaToken(reason)
    challenge, user = row
    dpop_binding.require_same_key(challenge.dpop_jkt, dpop_jkt)
    challenge_id, user_id, key = challenge.id, user.id, user.username_key
    recovery = recovery_code is not None
    counting = {
        "origin": origin,
        "event": "mfa_challenge",
        "locked": InvalidCredentials(second_factor_failures.LOCKED),
    }
    second_factor_failures.refuse_early(user, recovery, now, **counting)
    attempt = failed_attempts.count(origin, _owner_counter(claims, key))
    try:
        counted = second_factor_failures.count_attempt(user, recovery, now, **counting)
        tries = _count_challenge_attempt(challenge_id, now)
    except (InvalidCredentials, TooManyAttempts):
        attempt.give_back()  # no code was checked
        raise
    factor = mfa.check_second_factor(user, code, recovery_code, now)
    if factor is None:
        spent = tries >= mfa.MAX_CHALLENGE_FAILURES
        failed_attempts.refuse_wrong_secret(
            origin,
            InvalidCredentials(
                f"{WRONG_CODE}; too many wrong codes: log in again" if spent else WRONG_CODE
            ),
            "mfa_challenge",
            user_id=user_id,
            change=lambda: _record_wrong_code(challenge_id, spent, counted, user_id, origin),
            counted=True,
            reason=WRONG_CODE,
            spent=spent,
        )
    spent = db.session.execute(
        update(MfaChallenge)
        .where(
            MfaChallenge.id == challenge_id,
            MfaChallenge.spent_at.is_(None),
            MfaChallenge.expires_at >= now,
        )
        .values(spent_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1:  # another request with the same mfa_token won meanwhile
        db.session.rollback()
        attempt.give_back()
        raise InvalidMfaToken("mfa_token already used")
    audit("mfa_challenge", origin=origin, user_id=user.id, factor=factor)
    _audit_recovery_code(user.id, factor, origin)
    second_factor_failures.forgive(user)  # written with the login's last_login_at
    login_networks.record_login(user, origin, known_device=claims.device_id is not None)
    # Committed: nothing waits for a commit now.
    pair = open_session(user, origin=origin, proof=f"password+{factor}", dpop_jkt=dpop_jkt)
    attempt.give_back()
    return pair


def _owner_counter(claims: signed_tokens.MfaClaims, key: str) -> failed_attempts.Counter:
    """The counter of the device the first step counted on, if the token names one (the
    token is signed: only a valid device token of this user got it there); else the
    username's."""
    if claims.device_id is not None:
        return failed_attempts.device(claims.device_id)
    return failed_attempts.username(key)


def _challenge_refusal(row, now) -> str | None:
    if row is None:
        return "mfa_token not found"
    challenge, user = row
    if challenge.spent_at is not None:
        return "mfa_token already used"
    if challenge.expires_at < now:  # as for tokens: exactly its lifetime old still works
        return "token expired"
    if not user.is_active:
        return "user deactivated"
    if not user.mfa_enabled:
        return "TOTP is off"
    return None


def _count_challenge_attempt(challenge_id: str, now: datetime) -> int:
    """Count the code about to be checked on its challenge; return the count, this one in.

    One conditional UPDATE, held until the commit: of concurrent codes on one ``mfa_token``
    at most ``MAX_CHALLENGE_FAILURES`` are ever checked. Past them, or once a concurrent
    attempt spent the challenge, the code is refused unchecked.
    """
    tries = db.session.execute(
        update(MfaChallenge)
        .where(
            MfaChallenge.id == challenge_id,
            MfaChallenge.spent_at.is_(None),
            MfaChallenge.expires_at >= now,
            MfaChallenge.failures < mfa.MAX_CHALLENGE_FAILURES,
        )
        .values(failures=MfaChallenge.failures + 1)
        .returning(MfaChallenge.failures)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if tries is None:
        db.session.rollback()  # the account's count goes with it: no code was checked
        raise InvalidMfaToken("mfa_token already used")
    return tries


def _record_wrong_code(
    challenge_id: str, spent: bool, failures: int, user_id: int, origin: Origin
) -> None:
    """Spend the challenge if this wrong code was its last allowed one; and record the
    account's lockout if this code reached it."""
    if spent:
        db.session.execute(
            update(MfaChallenge)
            .where(MfaChallenge.id == challenge_id)
            .values(spent_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    second_factor_failures.record_wrong(failures, origin=origin, user_id=user_id)


def _audit_recovery_code(user_id: int, factor: str, origin: Origin) -> None:
    if factor == mfa.RECOVERY_CODE:
        left = mfa.codes_left(user_id)
        audit("recovery_code_used", origin=origin, user_id=user_id, codes_left=left)


def reauthenticate(
    user_id: int,
    session_id: str,
    password: str,
    code: str | None,
    recovery_code: str | None,
    *,
    origin: Origin,
) -> TokenPair:
    """Prove the user again in the session: the password and, with TOTP on, a code.

    Renew the session's proof (``authenticated_at``) and answer a new pair of the same
    session; the refresh token sent before is replaced, as a refresh would. A wrong password
    or code is 403 (the bearer token is fine: a 401 would tell the client to change it) and a
    failed attempt; both get the same answer, so no one learns which was wrong.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidCredentials("user deleted")
    # Asked before the password is checked: this answer says nothing about the password.
    if user.mfa_enabled and code is None and recovery_code is None:
        raise Invalid(
            "a code is required: TOTP is on",
            {"code": ["Required (or a recovery_code): TOTP is on for this user."]},
        )
    if not user.mfa_enabled and (code is not None or recovery_code is not None):
        field = "code" if code is not None else "recovery_code"
        raise Invalid("TOTP is off", {field: ["TOTP is off for this user: send the password."]})
    recovery = recovery_code is not None
    counting = {
        "origin": origin,
        "event": "reauthenticated",
        "locked": Forbidden(second_factor_failures.LOCKED),
    }
    if user.mfa_enabled:
        # Before the password is checked, so that neither refusal says anything about it.
        second_factor_failures.refuse_early(user, recovery, utcnow(), **counting)
    attempt = failed_attempts.count(origin, failed_attempts.session(session_id))
    proved = passwords.hashing().verify(user.password_hash, password)
    now = utcnow()
    factor = counted = None
    if proved and user.mfa_enabled:
        try:
            counted = second_factor_failures.count_attempt(user, recovery, now, **counting)
        except (Forbidden, TooManyAttempts, InvalidCredentials):
            attempt.give_back()  # the password was right, and no code was checked
            raise
        factor = mfa.check_second_factor(user, code, recovery_code, now)
        proved = factor is not None
    if not proved:
        lockout = partial(
            second_factor_failures.record_wrong,
            counted,
            origin=origin,
            user_id=user_id,
            session_id=session_id,
        )
        failed_attempts.refuse_wrong_secret(
            origin,
            Forbidden(WRONG_PROOF),
            "reauthenticated",
            user_id=user_id,
            session_id=session_id,
            change=lockout if counted else None,
            counted=bool(counted),
        )
    if counted is not None:
        second_factor_failures.forgive(user)
    if not renew_proof(user_id, session_id, now):
        db.session.rollback()
        attempt.give_back()
        raise InvalidCredentials("session revoked")
    audit("reauthenticated", origin=origin, user_id=user_id, session_id=session_id, factor=factor)
    if factor is not None:
        _audit_recovery_code(user_id, factor, origin)
    db.session.commit()
    attempt.give_back()  # committed first: nothing waits for a commit while it runs
    return token_pair(db.session.get(LoginSession, session_id, populate_existing=True))


def renew_proof(user_id: int, session_id: str, now: datetime) -> bool:
    """Record in the current transaction that the user proved themselves again in the live
    session (``authenticated_at``), and move its refresh generation: the caller answers a new
    pair, so the refresh token sent before is replaced. False: the session ended meanwhile.

    Every reauthentication (password, code or passkey) renews the session by this one UPDATE.
    """
    renewed = db.session.execute(
        update(LoginSession)
        .where(
            LoginSession.id == session_id,
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
        )
        .values(
            authenticated_at=now,
            refresh_generation=LoginSession.refresh_generation + 1,
            refreshed_at=now,
            last_used_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return renewed == 1
