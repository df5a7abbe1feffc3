"""The networks a user logs in from: a login from one not seen lately earns a notice.

Every login (password, second step, passkey) records its client's network, the /24 of an IPv4
address or the /48 of an IPv6 one, with one upsert in the login's own transaction. A login
that brings no valid device token of this user, from a network that has not logged in to
this account for ``NEW_AFTER_DAYS`` days, mails its owner a ``new_network_login`` notice
(``notices``: only to a verified address).

The upsert moves the row's old ``last_seen`` into ``previous_seen`` and returns it, so one
statement both records the login and tells whether the network was known before it.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from sqlalchemy.dialects import postgresql, sqlite

from api.credentials import signed_tokens
from api.database import db
from api.models import LoginNetwork, User, utcnow
from api.origin import Origin
from api.services import notices
from api.services.sessions import WRONG_CREDENTIALS, refused_if_user_deleted

NEW_AFTER_DAYS = 90
NOTICE = "new_network_login"
# A client address that is no IP address (none over HTTP) is its own network.
LONGEST_NETWORK = 43
# Each dialect's ``insert``: the one with ``on_conflict_do_update``.
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def network_of(address: str) -> str:
    """Return the network ``address`` belongs to: its IPv4 /24, its IPv6 /48."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:LONGEST_NETWORK]
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def known_device(device: str | None, user_id: int) -> bool:
    """Tell whether ``device`` is a valid device token of ``user_id`` (no database)."""
    if device is None:
        return False
    try:
        claims = signed_tokens.codec().verify(signed_tokens.DEVICE, device)
    except signed_tokens.TokenError:
        return False
    return claims.user_id == user_id


def record_login(user: User, origin: Origin, *, known_device: bool = False) -> None:
    """Record the login's network for ``user``, and add a notice if it is new to them and
    the client brought no valid device token of theirs (``known_device``); in the caller's
    transaction (one statement, two more with a notice)."""
    now = utcnow()
    table = LoginNetwork.__table__
    statement = (
        _INSERTS[db.session.get_bind().dialect.name](table)
        .values(user_id=user.id, network=network_of(origin.address), last_seen=now)
        .on_conflict_do_update(
            index_elements=[table.c.user_id, table.c.network],
            set_={"previous_seen": table.c.last_seen, "last_seen": now},
        )
        .returning(table.c.previous_seen)
    )
    with refused_if_user_deleted(WRONG_CREDENTIALS):  # the user deleted under the login
        previous = db.session.execute(statement).scalar_one()
    if previous is not None and previous > now - timedelta(days=NEW_AFTER_DAYS):
        return
    if known_device or not (user.email and user.email_verified):
        return
    notices.notify(user.id, NOTICE, origin)
