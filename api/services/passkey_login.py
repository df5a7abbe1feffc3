"""Proving oneself with a passkey: a passwordless login (``POST /login/passkey``) and a
session's renewed proof (``POST /reauthenticate`` with a credential).

A passkey is multi-factor on its own (something held, unlocked by something known or
something one is: user verification is required), so its login asks no TOTP code and
satisfies ``MFA_REQUIRED``. A login's options name no account (discoverable credentials only);
a reauthentication's name the user's passkeys.

Every assertion is counted before it is checked, as every password is: a login's on the
client's address and on the credential it names, a reauthentication's on the address and the
session. A failed one stays counted (and, once the credential is known, counts on its
owner's username too); a right one is given back: a passkey is no password guess, so a
username that strangers keep over its limit does not stop its owner's passkey. Every kind of
failure gets one answer: 401 at login, 403 at ``/reauthenticate``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select, update

from api.audit_writer import audit
from api.credentials import failed_attempts, passkey_states, passkeys
from api.database import db
from api.errors import Forbidden, InvalidCredentials, ServiceError
from api.models import LoginSession, Passkey, PasskeyUserHandle, User, utcnow
from api.origin import Origin
from api.services.passkeys import Ceremony
from api.services.sessions import TokenPair, open_session, token_pair

WRONG_PASSKEY = "passkey refused"
PROOF = "passkey"
CLONE_SUSPECTED = "signature counter did not go up"


class PasskeyRefusal(Exception):
    """Why an assertion was refused, for the audit trail (the client gets one answer)."""

    def __init__(self, reason: str, owner: User | None = None, clone_of: int | None = None):
        super().__init__(reason)
        self.reason = reason
        # Read now: once the transaction is rolled back, the rows would be loaded again.
        self.owner_id = owner.id if owner is not None else None
        self.username_key = owner.username_key if owner is not None else None
        self.clone_of = clone_of  # the passkey a cloned authenticator used


@dataclass(frozen=True)
class Proved:
    """A verified assertion: whose passkey, and what it said."""

    passkey_id: int
    user: User
    assertion: passkeys.Assertion
    challenge: str


def login_options() -> Ceremony:
    """Start a passwordless login: request options for any discoverable passkey, the same
    for everyone (they name no account), and their state."""
    state, challenge = passkey_states.issue(passkey_states.LOGIN)
    return Ceremony(state, passkeys.request_options(passkeys.relying_party(), challenge, []))


def reauthentication_options(user_id: int) -> Ceremony:
    """Start a reauthentication: request options naming the user's usable passkeys."""
    state, challenge = passkey_states.issue(passkey_states.REAUTHENTICATE, user_id)
    rows = db.session.scalars(
        select(Passkey).where(Passkey.user_id == user_id, Passkey.disabled_at.is_(None))
    )
    allowed = [(row.credential_id, row.transport_list) for row in rows]
    db.session.rollback()  # read only: the connection goes back to the pool
    return Ceremony(state, passkeys.request_options(passkeys.relying_party(), challenge, allowed))


def login(state: str, credential: dict, *, origin: Origin) -> TokenPair:
    """Log in with a passkey: check the state and the assertion, open a session."""
    counter = failed_attempts.Counter("passkey", _digest(credential.get("id")))
    attempt = failed_attempts.count(origin, counter)
    refusal = InvalidCredentials(WRONG_PASSKEY)
    try:
        proved = _prove(state, credential, passkey_states.LOGIN, None)
        _spend(proved, origin)
    except PasskeyRefusal as refused:
        _refuse(refused, refusal, "login", origin, count_owner=True)
    pair = open_session(proved.user, origin=origin, proof=PROOF)  # committed
    attempt.give_back()
    return pair


def reauthenticate(
    user_id: int, session_id: str, state: str, credential: dict, *, origin: Origin
) -> TokenPair:
    """Prove the user again in the session with one of their passkeys: renew the session's
    proof (``authenticated_at``) and answer a new pair of the same session."""
    attempt = failed_attempts.count(origin, failed_attempts.session(session_id))
    refusal = Forbidden(WRONG_PASSKEY)
    try:
        proved = _prove(state, credential, passkey_states.REAUTHENTICATE, user_id)
        _spend(proved, origin, session_id)
    except PasskeyRefusal as refused:
        _refuse(refused, refusal, "reauthenticated", origin, session_id=session_id, user_id=user_id)
    now = utcnow()
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
    if renewed != 1:
        db.session.rollback()
        raise InvalidCredentials("session revoked")
    audit("reauthenticated", origin=origin, user_id=user_id, session_id=session_id, factor=PROOF)
    db.session.commit()
    attempt.give_back()
    return token_pair(db.session.get(LoginSession, session_id, populate_existing=True))


def _digest(credential_id: object) -> str:
    """The key of a credential's counter: short and storable, whatever the client sent."""
    text = credential_id if isinstance(credential_id, str) else ""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _prove(state: str, credential: dict, purpose: str, user_id: int | None) -> Proved:
    """Check the state, find the passkey, check the assertion; raise PasskeyRefusal."""
    try:
        challenge = passkey_states.open_state(state, purpose, user_id)
    except passkey_states.StateRefused as refused:
        raise PasskeyRefusal(refused.reason) from None
    row = db.session.execute(
        select(Passkey, User, PasskeyUserHandle.handle)
        .join(User, User.id == Passkey.user_id)
        .outerjoin(PasskeyUserHandle, PasskeyUserHandle.user_id == Passkey.user_id)
        .where(Passkey.credential_id == credential.get("id"))
    ).first()
    if row is None:
        raise PasskeyRefusal("unknown passkey")
    passkey, user, handle = row
    if user_id is not None and passkey.user_id != user_id:
        raise PasskeyRefusal("another user's passkey")
    if passkey.disabled_at is not None:
        raise PasskeyRefusal("passkey disabled", user)
    if not user.is_active:
        raise PasskeyRefusal("user deactivated", user)
    asserted_handle = passkeys.user_handle_of(credential)
    # WebAuthn L3 section 7.2 step 6: with no user named before, the handle must name one.
    if (asserted_handle is None and user_id is None) or (
        asserted_handle is not None and asserted_handle != handle
    ):
        raise PasskeyRefusal("user handle does not match the passkey's owner", user)
    try:
        assertion = passkeys.verify_assertion(
            passkeys.relying_party(), credential, challenge, passkey.public_key
        )
    except passkeys.PasskeyRefused as refused:
        raise PasskeyRefusal(refused.reason, user) from None
    if not passkeys.counter_went_up(passkey.sign_count, assertion.sign_count):
        raise PasskeyRefusal(CLONE_SUSPECTED, user, clone_of=passkey.id)
    return Proved(passkey.id, user, assertion, challenge)


def _spend(proved: Proved, origin: Origin, session_id: str | None = None) -> None:
    """Spend the state and record the passkey's use, in the transaction of the outcome."""
    if not passkey_states.spend(proved.challenge):
        raise PasskeyRefusal("state refused: already used", proved.user)
    now = utcnow()
    used = db.session.execute(
        update(Passkey)
        .where(Passkey.id == proved.passkey_id, Passkey.disabled_at.is_(None))
        .values(
            sign_count=proved.assertion.sign_count,
            backed_up=proved.assertion.backed_up,
            last_used_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:  # removed or disabled meanwhile
        raise PasskeyRefusal("unknown passkey", proved.user)
    audit(
        "passkey_used",
        origin=origin,
        user_id=proved.user.id,
        session_id=session_id,
        passkey_id=proved.passkey_id,
    )


def _refuse(
    refused: PasskeyRefusal,
    refusal: ServiceError,
    event: str,
    origin: Origin,
    *,
    count_owner: bool = False,
    user_id: int | None = None,
    session_id: str | None = None,
) -> None:
    """Answer a refused assertion: counted (before it was checked), recorded, one answer.

    A cloned authenticator's valid assertion also disables its passkey, in the refusal's
    own commit.
    """
    db.session.rollback()
    if count_owner and refused.username_key is not None:
        failed_attempts.add_failure(origin, failed_attempts.username(refused.username_key))
    owner = refused.owner_id if refused.owner_id is not None else user_id
    change = None
    if refused.clone_of is not None:
        clone_of = refused.clone_of

        def change() -> None:
            _disable(clone_of, owner, origin)

    failed_attempts.refuse_wrong_secret(
        origin,
        refusal,
        event,
        user_id=owner,
        session_id=session_id,
        change=change,
        reason=refused.reason,
        factor=PROOF,
    )


def _disable(passkey_id: int, user_id: int | None, origin: Origin) -> None:
    db.session.execute(
        update(Passkey)
        .where(Passkey.id == passkey_id, Passkey.disabled_at.is_(None))
        .values(disabled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit("passkey_clone_suspected", origin=origin, user_id=user_id, passkey_id=passkey_id)
