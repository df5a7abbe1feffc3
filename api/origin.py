"""Where a use case was asked from: the client's address, its user agent, the acting user.

Services take it as a plain value and the audit trail records it, so neither reads a request:
the HTTP side builds one from the request it serves (``api.http.client_info``), and every
command of the CLI passes ``CLI``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asks: the client's ``address``, its ``user_agent`` (None when there is no HTTP
    client) and ``actor_id``, the user whose credentials the request carried (None when
    anonymous)."""

    address: str
    user_agent: str | None
    actor_id: int | None = None


# An administrator at the server's console: no network address, no client, no user.
CLI = Origin(address="cli", user_agent=None, actor_id=None)
