"""Scopes: the permissions a token carries, each declared once by what it guards.

Every protected view names the one scope it needs (``security.requires``). A scope is declared
once, next to what it guards (``account`` and ``mfa:enroll`` here, ``notes:*`` in the notes
resource, ...), with its description, who carries it on a session token and whether a personal
access token may ask for it; everything else reads this registry, so a scope declared later
counts everywhere without a list to keep in step.

A session token carries what the user's role grants at the moment of the request; a personal
access token carries what it was made with, cut down to what the role grants now. A session
that ``MFA_REQUIRED`` holds back until the user enrols carries ``mfa:enroll`` alone. No token
carries a scope that was never declared.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass


class Holders(enum.Enum):
    """Whose session tokens carry a scope."""

    EVERY_USER = "every user"
    ADMINS = "admins only"


EVERY_USER = Holders.EVERY_USER
ADMINS = Holders.ADMINS


@dataclass(frozen=True, slots=True)
class Scope:
    """One declared scope: what it is called, what it grants, who holds it."""

    name: str
    description: str
    holders: Holders
    personal: bool


_declared: dict[str, Scope] = {}


def declare(name: str, description: str, *, holders: Holders, personal: bool) -> str:
    """Declare the scope ``name`` and return it, for ``requires(...)`` to name.

    ``personal`` says whether a personal access token may ask for it. A name is declared once:
    a second declaration is a mistake (two resources claiming one scope), so it raises.
    """
    if name in _declared:
        raise ValueError(f"scope {name!r} is declared twice")
    if not isinstance(holders, Holders):
        raise TypeError(f"holders of {name!r} must be EVERY_USER or ADMINS, not {holders!r}")
    _declared[name] = Scope(name, description, holders, personal)
    _forget_derived_sets()
    return name


def _forget_derived_sets() -> None:
    # The sets below are asked for on every request, so they are remembered; a declaration
    # (made at import, before any request) is the only thing that changes them.
    for remembered in (known, declared, granted_by_role, personal_scopes_allowed):
        remembered.cache_clear()


@functools.cache
def known() -> frozenset[str]:
    """Return the name of every declared scope."""
    return frozenset(_declared)


@functools.cache
def declared() -> tuple[Scope, ...]:
    """Return every declared scope, by name: the order the OpenAPI document lists them in."""
    return tuple(_declared[name] for name in sorted(_declared))


def description(name: str) -> str:
    """Return what the scope ``name`` grants, in a sentence."""
    return _declared[name].description


def for_admins_only(name: str) -> bool:
    """Tell whether only an admin's tokens may carry the scope ``name``."""
    scope = _declared.get(name)
    return scope is not None and scope.holders is ADMINS


@functools.cache
def granted_by_role(is_admin: bool) -> frozenset[str]:
    """Return every scope the role allows a token of its user to carry."""
    return frozenset(
        scope.name
        for scope in _declared.values()
        if scope.holders is EVERY_USER or (is_admin and scope.holders is ADMINS)
    )


@functools.cache
def personal_scopes_allowed(is_admin: bool) -> frozenset[str]:
    """Return the scopes a user of that role may give a personal access token."""
    return frozenset(name for name in granted_by_role(is_admin) if _declared[name].personal)


ACCOUNT = declare(
    "account",
    "Manage the caller's own sessions, password and tokens (session tokens only).",
    holders=EVERY_USER,
    personal=False,
)
MFA_ENROLL = declare(
    "mfa:enroll",
    "Enrol a second factor (session tokens only).",
    holders=EVERY_USER,
    personal=False,
)

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
