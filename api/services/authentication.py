"""Logging in with a username and password: the first step of every login."""

from __future__ import annotations

from flask import current_app

from api.audit_writer import audit
from api.credentials import failed_attempts, passwords, scopes, signed_tokens
from api.database import db
from api.errors import InvalidCredentials
from api.origin import Origin
from api.services import login_networks, mfa
from api.services.accounts import find_user, username_key
from api.services.sessions import WRONG_CREDENTIALS, TokenPair, open_session, unless_user_deleted


def device_token(user_id: int) -> str:
    """Return a new device token for the client that just logged in as ``user_id``: sent
    back with its next login, it counts that attempt apart from strangers'. Each login gets
    a new one, with a counter of its own."""
    codec = signed_tokens.codec()
    return codec.issue(signed_tokens.DEVICE, signed_tokens.new_device_claims(user_id))


def authenticate(
    username: str,
    password: str,
    *,
    origin: Origin,
    device: str | None = None,
    dpop_jkt: str | None = None,
) -> TokenPair:
    """Check the credentials and open a new login session.

    Unknown user, wrong password and deactivated user are refused alike, each after exactly
    one password verification, so neither the answer nor its timing tells them apart. Each
    attempt is counted before the password is checked, for the client's address and the
    username, or the device when ``device`` is a valid device token of this very user (any
    other counts as a stranger's); a right password gives it back. Its event names the
    account by ``user_id`` or, when the name is no account's, says ``username: null`` with the
    reason ``unknown user``: what was typed (a password, by mistake) is never kept.

    The right password of a user with TOTP on opens no session yet: it raises
    ``SecondFactorRequired`` with the ``mfa_token`` of a new challenge (not a failed attempt),
    naming the device this attempt counted on, if any, so that the second step counts there.
    A user whom ``MFA_REQUIRED`` names and who has no TOTP gets an enrolment-only session.
    With ``dpop_jkt`` (the thumbprint of the request's DPoP key) the session, or the second
    step, is bound to that key.
    """
    owner = _owner_counter(username, device)
    attempt = failed_attempts.count(origin, owner)
    user = find_user(username)
    hashing = passwords.hashing()
    if user is None:
        hashing.verify_dummy(password)
        failed_attempts.refuse_wrong_secret(
            origin,
            InvalidCredentials(WRONG_CREDENTIALS),
            "login",
            reason="unknown user",
            username=None,  # what was typed may be anything, a password even: never kept
        )
    verified = hashing.verify(user.password_hash, password)
    if not verified or not user.is_active:
        failed_attempts.refuse_wrong_secret(
            origin,
            InvalidCredentials(WRONG_CREDENTIALS),
            "login",
            user_id=user.id,
            reason="user deactivated" if verified else "wrong password",
        )
    attempt.give_back()  # before anything is written: it may wait on the store
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash(password)
    if user.mfa_enabled:
        known_device = owner.key if owner.name == "device" else None
        second_step = mfa.open_challenge(user, dpop_jkt=dpop_jkt, device_id=known_device)
        audit("login", "mfa_required", origin=origin, user_id=user.id)
        with unless_user_deleted(WRONG_CREDENTIALS):
            db.session.flush()
        raise second_step
    enrolment_only = scopes.mfa_required(current_app.config["MFA_REQUIRED"], user.is_admin)
    known = login_networks.known_device(device, user.id)
    login_networks.record_login(user, origin, known_device=known)
    return open_session(user, origin=origin, enrolment_only=enrolment_only, dpop_jkt=dpop_jkt)


def _owner_counter(username: str, device: str | None) -> failed_attempts.Counter:
    """The device's counter for a valid device token of the user named; else the username's.

    A token that fails its checks, or names another user, is ignored, never an error: the
    attempt then counts as any stranger's. Only a token that passes them costs a lookup.
    """
    claims = None
    if device is not None:
        try:
            claims = signed_tokens.codec().verify(signed_tokens.DEVICE, device)
        except signed_tokens.TokenError:
            claims = None
    if claims is not None:
        user = find_user(username)
        if user is not None and user.id == claims.user_id:
            return failed_attempts.device(claims.device_id)
    return failed_attempts.username(username_key(username))
