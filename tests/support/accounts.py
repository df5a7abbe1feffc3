"""The password every test user has, a user logged in through ``POST /login``, and a PAT."""

from __future__ import annotations

from dataclasses import dataclass

PASSWORD = "correct horse battery staple"


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
