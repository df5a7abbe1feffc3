"""The benchmark's data: users, notes, sessions and audit events, and the tokens the cases
send."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine
from flask import Flask
from support.accounts import PASSWORD
from support.forged_tokens import forged_signature, unknown_key
from support.seeding import add_events, add_notes, add_users

from api.credentials import passwords, signed_tokens
from api.database import create_schema, db
from api.models import User
from api.origin import CLI, Origin
from api.services import accounts, authentication, sessions


@dataclass
class Fixture:
    """The seeded app and the tokens and names the cases use."""

    app: Flask
    tokens: dict[str, str] = field(default_factory=dict)
    # Cases, or what they need, that could not be prepared or did not work, and why (the
    # report shows their targets as missed).
    unavailable: dict[str, str] = field(default_factory=dict)
    # The user whose audit events ``GET /audit?user_id=`` lists: one who never logs in.
    audited_user_id: int = 0
    # The verified address of an active account, which ``POST /password/forgot`` mails.
    verified_address: str = ""


# The audited user's own events (besides the ``user_created`` of their account).
AUDITED_EVENTS = 20


# The verified address ``POST /password/forgot`` is asked about; its owner never logs in.
VERIFIED_ADDRESS = "forgetful@example.test"

# Where the seeded logins come from, as the in-process cases' requests do.
BENCH_CLIENT = Origin("127.0.0.1", "bench")


def log_in(app: Flask, username: str) -> sessions.TokenPair:
    with app.app_context():
        return authentication.authenticate(username, PASSWORD, origin=BENCH_CLIENT)


def seed(app: Flask, filler_users: int, filler_events: int, full: bool) -> Fixture:
    """Create the schema and the data; return the tokens the cases send.

    Besides the filler users, the audit trail gets ``filler_events`` events spread over users
    that do not exist, and ``AUDITED_EVENTS`` more of the ``audited`` user, whom an admin
    (``auditor``) lists. The full set also has an account with a verified address
    (``VERIFIED_ADDRESS``), which a forgotten password is mailed to.
    """
    fixture = Fixture(app)
    with app.app_context():
        create_schema()
        for name in ("reader", "few-notes", "revoked", "inactive", "audited"):
            accounts.create_user(name, PASSWORD, origin=CLI)
        accounts.create_user("auditor", PASSWORD, is_admin=True, origin=CLI)
        filler_hash = passwords.hashing().hash(secrets.token_hex(8))
        add_users(filler_users, filler_hash, with_sessions=True)
        fixture.audited_user_id = accounts.get_user("audited").id
        add_events(filler_events)
        add_events(AUDITED_EVENTS, user_id=fixture.audited_user_id)
    fixture.tokens["valid"] = log_in(app, "reader").access_token
    fixture.tokens["admin"] = log_in(app, "auditor").access_token
    if not full:
        return fixture
    with app.app_context():
        add_notes(accounts.get_user("reader").id, 10_000)
        add_notes(accounts.get_user("few-notes").id, 10)
        accounts.update_user(accounts.get_user("inactive"), {"is_active": False}, origin=CLI)
        fixture.verified_address = add_verified_address("forgetful", VERIFIED_ADDRESS)
    fixture.tokens["few_notes"] = log_in(app, "few-notes").access_token
    revoked = log_in(app, "revoked")
    with app.app_context():
        sessions.logout(revoked.user_id, revoked.session_id, origin=CLI)
    fixture.tokens["revoked"] = revoked.access_token
    fixture.tokens["refresh"] = log_in(app, "reader").refresh_token
    fixture.tokens.update(refused_tokens(app, fixture.tokens["valid"]))
    try:
        pat = personal_token(app, "reader")
    except Exception as exc:  # the slot needs adapting to the PAT service: say so, go on
        fixture.unavailable["me_pat"] = f"{type(exc).__name__}: {exc}"
    else:
        if pat is not None:
            fixture.tokens["pat"] = pat
    return fixture


def add_verified_address(username: str, address: str) -> str:
    """Create ``username`` with ``address``, marked verified as following its link would; return
    the address. Its verification mail waits in the outbox (``MAIL_URL`` is unset here)."""
    user = accounts.create_user(username, PASSWORD, origin=CLI, email=address)
    db.session.execute(sa.update(User).where(User.id == user.id).values(email_verified=True))
    db.session.commit()
    return address


# --- SLOT: personal access tokens ---------------------------------------------------------------
# The ``me_pat`` case (GET /me with a personal access token, held to the same targets as a
# session token) joins the run as soon as ``signed_tokens`` offers a PAT kind (``PERSONAL``).
# This is the one place that makes the token: adapt it here if the PAT service differs.
PAT_SCOPES = ["notes:read"]


def pat_kind_exists() -> bool:
    """Tell whether ``api.credentials.signed_tokens`` has a personal access token kind yet."""
    return getattr(signed_tokens, "PERSONAL", None) is not None


def personal_token(app: Flask, username: str) -> str | None:
    """Return a personal access token of ``username``, or None while PATs do not exist."""
    if not pat_kind_exists():
        return None
    from api.services import personal_access_tokens

    with app.app_context():
        user_id = accounts.get_user(username).id
        created = personal_access_tokens.create_personal_token(
            user_id, "bench", PAT_SCOPES, origin=CLI
        )
        return created.token


def refused_tokens(app: Flask, valid: str) -> dict[str, str]:
    """A forged, an expired and an unknown-key variant of a valid access token."""
    with app.app_context(), time_machine.travel(datetime.now(UTC) - timedelta(hours=1)):
        claims = signed_tokens.Claims(1, "expired-session")
        expired = signed_tokens.codec().issue(signed_tokens.ACCESS, claims)
    return {
        "forged": forged_signature(valid),
        "expired": expired,
        "unknown_key": unknown_key(valid),
    }
