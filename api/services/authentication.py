"""Logging in with a username and password: the first step of every login."""

from __future__ import annotations

from flask import current_app

from api.audit_writer import audit
from api.credentials import failed_attempts, passwords, scopes
from api.database import db
from api.errors import InvalidCredentials
from api.origin import Origin
from api.services import mfa
from api.services.accounts import find_user, username_key
from api.services.sessions import WRONG_CREDENTIALS, TokenPair, open_session, unless_user_deleted


def authenticate(username: str, password: str, *, origin: Origin) -> TokenPair:
    """Check the credentials and open a new login session.

    Unknown user, wrong password and deactivated user are refused alike, each after exactly
    one password verification, so neither the answer nor its timing tells them apart. Each
    refusal is a failed attempt for the client's address and the username. Its event names
    the account by ``user_id`` or, when the name is no account's, says ``username: null``
    with the reason ``unknown user``: what was typed (a password, by mistake) is never kept.

    The right password of a user with TOTP on opens no session yet: it raises
    ``SecondFactorRequired`` with the ``mfa_token`` of a new challenge (not a failed attempt).
    A user whom ``MFA_REQUIRED`` names and who has no TOTP gets an enrolment-only session.
    """
    key = username_key(username)
    failed_attempts.check(origin, key)
    hashing = passwords.hashing()
    user = find_user(username)
    if user is None:
        hashing.verify_dummy(password)
        failed_attempts.refuse_wrong_secret(
            origin,
            key,
            InvalidCredentials(WRONG_CREDENTIALS),
            "login",
            reason="unknown user",
            username=None,  # what was typed may be anything, a password even: never kept
        )
    verified = hashing.verify(user.password_hash, password)
    if not verified or not user.is_active:
        failed_attempts.refuse_wrong_secret(
            origin,
            key,
            InvalidCredentials(WRONG_CREDENTIALS),
            "login",
            user_id=user.id,
            reason="user deactivated" if verified else "wrong password",
        )
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash(password)
    if user.mfa_enabled:
        second_step = mfa.open_challenge(user)
        audit("login", "mfa_required", origin=origin, user_id=user.id)
        with unless_user_deleted(WRONG_CREDENTIALS):
            db.session.flush()
        raise second_step
    enrolment_only = scopes.mfa_required(current_app.config["MFA_REQUIRED"], user.is_admin)
    return open_session(user, origin=origin, enrolment_only=enrolment_only)
