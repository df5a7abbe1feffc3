"""Mail tokens: the single-purpose tokens a mail carries, each accepted only by its endpoint.

A mail token reads ``<kind>.<key id>.<itsdangerous URL-safe timed token>``, like the bearer
tokens (``signed_tokens``), signed with the same keys but each kind with its own salt:
``sv`` (a sign-up's address), ``ev`` (an address set or changed), ``iv`` (an invitation),
``pr`` (a password reset) and ``sa`` (securing an account from a notice). The payload is the
random id of the ticket row it stands for (``models.MailTicket``), nothing else: no address,
no user. The row makes it single-use; the signature and the kind's lifetime make it
short-lived, checked here before any database query.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, current_app
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from api.credentials.signed_tokens import RANDOM_ID, TokenError, key_id

SIGNUP = "sv"
VERIFY_EMAIL = "ev"
INVITE = "iv"
RESET = "pr"
SECURE = "sa"
SALTS = {
    SIGNUP: "tessera.mail.signup",
    VERIFY_EMAIL: "tessera.mail.verify-email",
    INVITE: "tessera.mail.invitation",
    RESET: "tessera.mail.password-reset",
    SECURE: "tessera.mail.secure-account",
}
# How long a notice's securing link works, as the contract says.
SECURE_MAX_AGE = 7 * 24 * 3600
MAX_TOKEN_LENGTH = 256
EXTENSION = "tessera.mail_tokens"


def new_ticket_id() -> str:
    """Return a random id for a ticket row, which its token names."""
    return secrets.token_urlsafe(24)


class MailTokenCodec:
    """Issue mail tokens with the newest key; verify with any key held."""

    def __init__(self, keys: list[str], max_age: dict[str, int]) -> None:
        self.max_age = max_age
        self._signers: dict[tuple[str, str], tuple[URLSafeTimedSerializer, TimestampSigner]] = {}
        for secret in keys:
            for kind, salt in SALTS.items():
                serializer = URLSafeTimedSerializer(secret, salt=salt)
                self._signers[(key_id(secret), kind)] = (serializer, serializer.make_signer(salt))
        self.signing_key_id = key_id(keys[-1])

    def issue(self, kind: str, ticket_id: str) -> str:
        """Sign ``ticket_id`` as a token of ``kind``."""
        serializer, _ = self._signers[(self.signing_key_id, kind)]
        return f"{kind}.{self.signing_key_id}.{serializer.dumps({'tid': ticket_id})}"

    def verify(self, kind: str, token: Any) -> str:
        """Return the ticket id a token of ``kind`` names; raise ``TokenError`` saying why not."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("malformed token")
        parts = token.split(".", 2)
        if len(parts) != 3 or parts[0] not in SALTS:
            raise TokenError("malformed token")
        token_kind, kid, signed = parts
        if token_kind != kind:
            raise TokenError("wrong token type")
        found = self._signers.get((kid, kind))
        if found is None:
            raise TokenError("unknown signing key")
        serializer, signer = found
        try:
            payload = serializer.load_payload(signer.unsign(signed, max_age=self.max_age[kind]))
        except SignatureExpired:
            raise TokenError("token expired") from None
        except BadData:
            raise TokenError("invalid signature") from None
        ticket_id = payload.get("tid") if isinstance(payload, dict) else None
        if not isinstance(ticket_id, str) or RANDOM_ID.fullmatch(ticket_id) is None:
            raise TokenError("malformed token")
        return ticket_id


def init_app(app: Flask) -> None:
    """Build the app's mail-token codec from its signing keys and the mail lifetimes."""
    keys = [*app.config["SECRET_KEY_FALLBACKS"], app.config["SECRET_KEY"]]
    email_age = int(app.config["EMAIL_TOKEN_MAX_AGE"])
    app.extensions[EXTENSION] = MailTokenCodec(
        keys,
        {
            SIGNUP: email_age,
            VERIFY_EMAIL: email_age,
            INVITE: email_age,
            RESET: int(app.config["PASSWORD_RESET_MAX_AGE"]),
            SECURE: SECURE_MAX_AGE,
        },
    )


def codec() -> MailTokenCodec:
    """Return the current app's mail-token codec."""
    return current_app.extensions[EXTENSION]
