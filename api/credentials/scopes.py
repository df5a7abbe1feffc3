"""Scopes: the fixed set of permissions a token carries, and who may hold which.

Every protected view names the one scope it needs (``security.requires``). A session token
carries what the user's role grants at the moment of the request; a personal access token
carries what it was made with, cut down to what the role grants now. A session that
``MFA_REQUIRED`` holds back until the user enrols carries ``mfa:enroll`` alone. No token
carries a scope outside ``ALL``.
"""

from __future__ import annotations

import functools

NOTES_READ = "notes:read"
NOTES_WRITE = "notes:write"
USERS_READ = "users:read"
USERS_WRITE = "users:write"
ACCOUNT = "account"
MFA_ENROLL = "mfa:enroll"

ALL = frozenset({NOTES_READ, NOTES_WRITE, USERS_READ, USERS_WRITE, ACCOUNT, MFA_ENROLL})
# What only an admin's tokens carry.
ADMIN = frozenset({USERS_READ, USERS_WRITE})
# What every user's session tokens carry.
USER = frozenset({NOTES_READ, NOTES_WRITE, ACCOUNT, MFA_ENROLL})
# What a personal access token may ever ask for: never the account, never MFA enrolment.
PERSONAL = frozenset({NOTES_READ, NOTES_WRITE, USERS_READ, USERS_WRITE})

DESCRIPTIONS = {
    NOTES_READ: "Read the caller's notes.",
    NOTES_WRITE: "Create, change and delete the caller's notes.",
    USERS_READ: "List and read user accounts (admins).",
    USERS_WRITE: "Create, change and delete user accounts (admins).",
    ACCOUNT: "Manage the caller's own sessions, password and tokens (session tokens only).",
    MFA_ENROLL: "Enrol a second factor (session tokens only).",
}


def granted_by_role(is_admin: bool) -> frozenset[str]:
    """Return every scope the role allows a token of its user to carry."""
    return USER | ADMIN if is_admin else USER


# Only what an enrolment-only session may do: ask who it is and enrol a second factor.
ENROLMENT = frozenset({MFA_ENROLL})


def mfa_required(policy: str, is_admin: bool) -> bool:
    """Tell whether ``MFA_REQUIRED``'s ``policy`` asks a second factor of a user of that role."""
    return policy == "all" or (policy == "admins" and is_admin)


def session_scopes(
    is_admin: bool, mfa_enabled: bool, enrolment_only: bool, policy: str
) -> frozenset[str]:
    """Return the scopes a session token carries now.

    An enrolment-only session carries ``mfa:enroll`` alone for as long as it lives. So does
    any session of a user whom the policy names and who has no TOTP (any more): a user
    promoted under ``admins``, or one who turned TOTP off, must enrol before going on.
    """
    if enrolment_only or (mfa_required(policy, is_admin) and not mfa_enabled):
        return ENROLMENT
    return granted_by_role(is_admin)


def personal_scopes_allowed(is_admin: bool) -> frozenset[str]:
    """Return the scopes a user of that role may give a personal access token."""
    return PERSONAL & granted_by_role(is_admin)


@functools.cache
def in_order(scopes: frozenset[str]) -> tuple[str, ...]:
    """Return ``scopes`` sorted: a token's scopes as a response lists them.

    Remembered: there are only a handful of distinct sets, and every request asks for one.
    """
    return tuple(sorted(scopes))


def parse(text: str) -> frozenset[str]:
    """Return the scopes of a stored, space-separated scope string (RFC 6749's form)."""
    return frozenset(text.split())


def join(scopes: frozenset[str] | set[str]) -> str:
    """Return ``scopes`` as a stored scope string, sorted so that equal sets read alike."""
    return " ".join(sorted(scopes))
