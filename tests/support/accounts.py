"""The password every test user has, a user logged in through ``POST /login``, a PAT, and
a TOTP enrolment with the codes of its authenticator."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp

PASSWORD = "correct horse battery staple"
# The fields of every answer that carries a token pair (login, refresh, reauthenticate).
TOKEN_PAIR_FIELDS = {
    "access_token",
    "refresh_token",
    "token_type",
    "expires_in",
    "refresh_expires_in",
}


@dataclass
class Login:
    """A user logged in through ``POST /login``."""

    user_id: int
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class PersonalToken:
    """A personal access token made through ``POST /tokens``."""

    id: int
    token: str
    scopes: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Enrolled:
    """TOTP turned on through ``POST /mfa/totp`` and ``POST /mfa/totp/confirm``."""

    secret: str
    recovery_codes: list[str]


def totp_code(secret: str, steps: int = 0) -> str:
    """Return the code an authenticator shows now, or ``steps`` 30-second steps away."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps)
