"""Proving oneself with a passkey: a passwordless login (``POST /login/passkey``) and a
session's renewed proof (``POST /reauthenticate`` with a credential).

A passkey is multi-factor on its own (something held, unlocked by something known or
something one is: user verification is required), so its login asks no TOTP code and
satisfies ``MFA_REQUIRED``. A login's options name no account (discoverable credentials only);
a reauthentication's name the user's passkeys.

A login costs a few statements and one signature check. Its first statement is the passkey's
compare-and-swap, made on what the assertion claims before the signature is checked: the
counter goes up (or the authenticator keeps none), the passkey is usable, its owner active and
named by the user handle, and the client's address within its limit of failed attempts. The
signature is then checked (no statement: nothing waits while the write is held), and the
session it opens spends the state (``passkey_states.login_session_id``); anything refused rolls
the write back. Only then, on the failure path, is each check made again one by one, for the
audit trail and the clone rule.

A passkey is no password guess: a success is not counted, so a username that strangers keep
over its limit does not stop its owner's passkey. A failed login counts on the address and, once
the credential is known, on its owner's username; a reauthentication is counted before it is
checked on the address and the session, as a password there is. Every kind of failure gets one
answer: 401 at login, 403 at ``/reauthenticate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.orm import make_transient_to_detached

from api.audit_writer import audit
from api.credentials import address_limit, failed_attempts, passkey_states, passkeys
from api.database import db
from api.errors import Forbidden, InvalidCredentials, ServiceError
from api.models import LoginSession, Passkey, PasskeyUserHandle, User, utcnow
from api.origin import Origin
from api.services import login_networks, second_step
from api.services.passkeys import Ceremony
from api.services.sessions import TokenPair, open_session, token_pair

WRONG_PASSKEY = "passkey refused"
PROOF = "passkey"
SPENT = "state refused: already used"
CLONE_SUSPECTED = "signature counter did not go up"


class PasskeyRefusal(Exception):
    """Why an assertion was refused, for the audit trail (the client gets one answer)."""

    def __init__(
        self,
        reason: str,
        owner: User | None = None,
        clone_of: int | None = None,
        *,
        owner_id: int | None = None,
        key: str | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        # Read now: once the transaction is rolled back, the rows would be loaded again.
        self.owner_id = owner.id if owner is not None else owner_id
        self.username_key = owner.username_key if owner is not None else key
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


def login(
    state: str, credential: dict, *, origin: Origin, dpop_jkt: str | None = None
) -> TokenPair:
    """Log in with a passkey: check the state and the assertion, open a session (bound to
    ``dpop_jkt``, the request's DPoP key, if any)."""
    pair = _log_in(state, credential, origin, dpop_jkt)
    if pair is None:
        _refuse_login(state, credential, origin)
    return pair


def _log_in(state: str, credential: dict, origin: Origin, dpop_jkt: str | None) -> TokenPair | None:
    """The success path, in as few statements as it takes; None: something was refused."""
    try:
        challenge = passkey_states.open_state(state, passkey_states.LOGIN)
    except passkey_states.StateRefused:
        return None
    claimed = passkeys.claimed_assertion(credential)
    handle = passkeys.user_handle_of(credential)
    if claimed is None or handle is None:
        return None
    used = db.session.execute(_use_passkey(credential.get("id"), handle, claimed, origin)).first()
    if used is None:
        return None
    try:
        passkeys.verify_assertion(passkeys.relying_party(), credential, challenge, used.public_key)
    except passkeys.PasskeyRefused:
        return None
    user = _known_user(used.user_id, used.email, used.email_verified)
    login_networks.record_login(user, origin)
    try:
        return open_session(
            user,
            origin=origin,
            proof=PROOF,
            dpop_jkt=dpop_jkt,
            session_id=passkey_states.login_session_id(challenge),
            passkey_id=used.id,
        )
    except InvalidCredentials:  # the state was spent meanwhile, or the user deleted
        return None


def _use_passkey(
    credential_id: object, handle: str, claimed: passkeys.Assertion, origin: Origin
) -> sa.Update:
    """The compare-and-swap of a login: record the passkey's use with the claimed counter,
    where every check a statement can make passes; return what the rest needs."""
    owner = select(PasskeyUserHandle.user_id).where(PasskeyUserHandle.handle == handle)
    active = select(User.id).where(User.is_active.is_(True))
    of_owner = select(User.email).where(User.id == Passkey.user_id)
    verified = select(User.email_verified).where(User.id == Passkey.user_id)
    return (
        update(Passkey)
        .where(
            Passkey.credential_id == (credential_id if isinstance(credential_id, str) else ""),
            Passkey.disabled_at.is_(None),
            Passkey.user_id == owner.scalar_subquery(),
            Passkey.user_id.in_(active),
            _counter_goes_up(claimed.sign_count),
            address_limit.within(origin),
        )
        .values(sign_count=claimed.sign_count, backed_up=claimed.backed_up, last_used_at=utcnow())
        .returning(
            Passkey.id,
            Passkey.user_id,
            Passkey.public_key,
            of_owner.scalar_subquery().label("email"),
            verified.scalar_subquery().label("email_verified"),
        )
        .execution_options(synchronize_session=False)
    )


def _counter_goes_up(asserted: int) -> sa.ColumnElement[bool]:
    """``passkeys.counter_went_up`` as a condition on the stored counter."""
    return Passkey.sign_count == 0 if asserted == 0 else Passkey.sign_count < asserted


def _known_user(user_id: int, email: str | None, email_verified: bool) -> User:
    """The user the compare-and-swap named, as what the session's writes need, unloaded:
    setting ``last_login_at`` costs its UPDATE alone, no SELECT."""
    user = User(id=user_id, email=email, email_verified=email_verified)
    make_transient_to_detached(user)
    db.session.add(user)
    return user


def _refuse_login(state: str, credential: dict, origin: Origin) -> NoReturn:
    """Find out, check by check, why a login was refused; count it and answer 401 (429
    while the address is over its limit: then it is not checked, nor counted)."""
    db.session.rollback()
    address_limit.refuse_if_over(origin)
    try:
        proved = _prove(state, credential, passkey_states.LOGIN, None)
        raise PasskeyRefusal(_race(proved.challenge), proved.user)
    except PasskeyRefusal as refused:
        found = refused
    if found.clone_of is not None and _spent(state):
        found = PasskeyRefusal(
            SPENT, clone_of=None, owner_id=found.owner_id, key=found.username_key
        )
    db.session.rollback()
    failed_attempts.add_failure(origin, failed_attempts.Counter("address", origin.address))
    _refuse(found, InvalidCredentials(WRONG_PASSKEY), "login", origin, count_owner=True)


def _race(challenge: str) -> str:
    """Why an assertion that passes every check alone was refused."""
    if _session_exists(passkey_states.login_session_id(challenge)):
        return SPENT
    return "the passkey or its owner changed meanwhile"


def _spent(state: str) -> bool:
    """Tell whether the login state was spent: its session exists."""
    challenge = passkey_states.open_state(state, passkey_states.LOGIN)
    return _session_exists(passkey_states.login_session_id(challenge))


def _session_exists(session_id: str) -> bool:
    return (
        db.session.scalar(select(LoginSession.id).where(LoginSession.id == session_id)) is not None
    )


def reauthenticate(
    user_id: int, session_id: str, state: str, credential: dict, *, origin: Origin
) -> TokenPair:
    """Prove the user again in the session with one of their passkeys: renew the session's
    proof (``authenticated_at``) and answer a new pair of the same session."""
    attempt = failed_attempts.count(origin, failed_attempts.session(session_id))
    refusal = Forbidden(WRONG_PASSKEY)
    try:
        proved = _prove(state, credential, passkey_states.REAUTHENTICATE, user_id)
        _spend(proved)
    except PasskeyRefusal as refused:
        _refuse(refused, refusal, "reauthenticated", origin, session_id=session_id, user_id=user_id)
    if not second_step.renew_proof(user_id, session_id, utcnow()):
        db.session.rollback()
        raise InvalidCredentials("session revoked")
    audit(
        "reauthenticated",
        origin=origin,
        user_id=user_id,
        session_id=session_id,
        factor=PROOF,
        passkey_id=proved.passkey_id,
    )
    db.session.commit()
    attempt.give_back()
    return token_pair(db.session.get(LoginSession, session_id, populate_existing=True))


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


def _spend(proved: Proved) -> None:
    """Spend the state and record the passkey's use (a compare-and-swap of its counter), in
    the transaction of the outcome, whose event names the passkey."""
    if not passkey_states.spend(proved.challenge):
        raise PasskeyRefusal(SPENT, proved.user)
    used = db.session.execute(
        update(Passkey)
        .where(
            Passkey.id == proved.passkey_id,
            Passkey.disabled_at.is_(None),
            _counter_goes_up(proved.assertion.sign_count),
        )
        .values(
            sign_count=proved.assertion.sign_count,
            backed_up=proved.assertion.backed_up,
            last_used_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:  # removed, disabled or used with a higher counter meanwhile
        raise PasskeyRefusal("the passkey changed meanwhile", proved.user)


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
