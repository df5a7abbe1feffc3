r"""The token format, and the only place that knows it.

A token reads ``<kind>.<key id>.<itsdangerous URL-safe timed token>``:

- ``kind`` is ``at`` (access), ``rt`` (refresh), ``tsr_pat`` (personal access token),
  ``mfa`` (the challenge of a login's second step, accepted only by ``POST /login/mfa``),
  ``dt`` (a device that logged in before, sent back only in a ``POST /login`` body, where it
  counts the attempt apart from strangers') or ``pks`` (a passkey ceremony's ``state``: its
  purpose, its user and its challenge, accepted only by that ceremony's endpoint), or one of
  the mail tokens a mail carries, each accepted only by its endpoint: ``sv`` (a sign-up's
  address), ``ev`` (an address set or changed), ``iv`` (an invitation), ``pr`` (a password
  reset) and ``sa`` (securing an account from a notice). Each kind is also signed with its own
  salt, so changing the prefix breaks the signature.
- ``key id`` names the signing key, so a check costs one HMAC however many fallback keys
  there are, and a token naming an unknown key is refused without any.
- the payload holds opaque ids only: the user, the login session and, for refresh tokens,
  the session's refresh generation; for a personal access token, the user, the token's row,
  the row's random ``nonce`` and its expiry (each PAT has a lifetime of its own, so the expiry
  is signed in); for an ``mfa`` token, the user, the challenge's row and, when the first step
  came with a valid device token, that device's id (the second step counts on its counter);
  for a device token, the user and a random id of its own, stored nowhere; for a mail token,
  the random id of the ticket row it stands for (``models.MailTicket``), which makes it
  single-use, and nothing else: no address, no user. It is signed, not encrypted.

Every claim is checked for its type and range here, before anything is looked up: an id is an
``int`` (never a bool) from 1 to ``MAX_ID``, a random id is what ``secrets.token_urlsafe``
makes, no longer than its column. So even a token signed with the real key can only name
values a column can hold: anything else is ``malformed token``, never a database error.

A session's or a challenge's id is random; a PAT's row has a sequential id, so the token also
names the row's ``nonce``, which a row made again with that id (a restored or hand-edited
database) cannot have. A PAT made before tokens carried one is refused as ``outdated token``.

A personal access token starts with the fixed ``tsr_pat.`` so that secret scanners can find
leaked ones. The whole token matches ``PERSONAL_TOKEN_PATTERN``::

    tsr_pat\.[0-9a-f]{8}\.\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+

(the key id, then itsdangerous's payload, timestamp and signature; a payload it chose to
compress starts with one more dot).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from api.models import MAX_ID

ACCESS = "at"
REFRESH = "rt"
PERSONAL = "tsr_pat"
MFA = "mfa"
DEVICE = "dt"
PASSKEY_STATE = "pks"
SIGNUP = "sv"
VERIFY_EMAIL = "ev"
INVITE = "iv"
RESET = "pr"
SECURE = "sa"
MAIL_KINDS = (SIGNUP, VERIFY_EMAIL, INVITE, RESET, SECURE)
SALTS = {
    ACCESS: "tessera.access-token",
    REFRESH: "tessera.refresh-token",
    PERSONAL: "tessera.personal-access-token",
    MFA: "tessera.mfa-token",
    DEVICE: "tessera.device-token",
    PASSKEY_STATE: "tessera.passkey-state",
    SIGNUP: "tessera.mail.signup",
    VERIFY_EMAIL: "tessera.mail.verify-email",
    INVITE: "tessera.mail.invitation",
    RESET: "tessera.mail.password-reset",
    SECURE: "tessera.mail.secure-account",
}
# How long a notice's securing link works, as the contract says.
SECURE_MAX_AGE = 7 * 24 * 3600
# The kinds a client may send as ``Authorization: Bearer``: never an ``mfa`` token.
BEARER_KINDS = frozenset({ACCESS, PERSONAL})
PERSONAL_TOKEN_PATTERN = re.compile(
    r"tsr_pat\.[0-9a-f]{8}\.\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
)
# Longer than any token this module issues; longer input is refused before any decoding.
MAX_TOKEN_LENGTH = 512
_TOKEN_FORM = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_TOKEN_LENGTH}}}")
# What ``secrets.token_urlsafe`` makes (a session's, a challenge's id, a PAT's nonce), up to
# the 43 characters their columns hold.
RANDOM_ID = re.compile(r"[A-Za-z0-9_-]{1,43}")
NONCE_BYTES = 16
# A passkey ceremony's purpose, as its state names it.
PURPOSE = re.compile(r"[a-z]{1,16}")


class TokenError(Exception):
    """A token was refused; ``reason`` is safe to show to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    user_id: int
    session_id: str
    generation: int | None = None  # refresh tokens only


@dataclass(frozen=True, slots=True)
class PersonalClaims:
    """What a verified personal access token says."""

    user_id: int
    token_id: int
    expires_at: int  # seconds since the epoch
    nonce: str  # the row's: a row made again with this id has another


@dataclass(frozen=True, slots=True)
class MfaClaims:
    """What a verified ``mfa_token`` says: whose login waits for its second step, and where."""

    user_id: int
    challenge_id: str
    device_id: str | None = None  # the first step's device token's, if it sent a valid one


@dataclass(frozen=True, slots=True)
class DeviceClaims:
    """What a verified device token says: whose login it came from, and which device."""

    user_id: int
    device_id: str  # random, one per login: the key of that device's failed-attempt counter


@dataclass(frozen=True, slots=True)
class PasskeyStateClaims:
    """What a verified passkey ceremony ``state`` says: its purpose, whose ceremony it is
    (None for a passwordless login, where no one is known yet) and the challenge."""

    purpose: str
    user_id: int | None
    challenge: str  # base64url of the random bytes the authenticator signs over


@dataclass(frozen=True, slots=True)
class MailClaims:
    """What a verified mail token says: the ticket row it stands for."""

    ticket_id: str


def new_device_claims(user_id: int) -> DeviceClaims:
    """Return the claims of a new device token for ``user_id``, with a random id."""
    return DeviceClaims(user_id, secrets.token_urlsafe(NONCE_BYTES))


def new_nonce() -> str:
    """Return a random value for a PAT's row to carry, and its tokens to name."""
    return secrets.token_urlsafe(NONCE_BYTES)


def key_id(secret: str | bytes) -> str:
    """Return the short public name of a signing key."""
    if isinstance(secret, str):
        secret = secret.encode()
    return hashlib.sha256(b"tessera.key-id:" + secret).hexdigest()[:8]


AnyClaims = Claims | PersonalClaims | MfaClaims | DeviceClaims | PasskeyStateClaims | MailClaims


class TokenCodec:
    """Issue and verify tokens with the newest key; verify with any key it holds."""

    def __init__(
        self,
        keys: list[str],
        access_max_age: int,
        refresh_max_age: int,
        personal_max_age: int = 365 * 24 * 3600,
        mfa_max_age: int = 300,
        device_max_age: int = 90 * 24 * 3600,
        passkey_state_max_age: int = 300,
        mail_max_age: dict[str, int] | None = None,
    ) -> None:
        if not keys:
            raise ValueError("no signing key")
        # A personal access token's own expiry is in its payload; this is the longest any has.
        self.max_age = {
            ACCESS: access_max_age,
            REFRESH: refresh_max_age,
            PERSONAL: personal_max_age,
            MFA: mfa_max_age,
            DEVICE: device_max_age,
            PASSKEY_STATE: passkey_state_max_age,
            **dict.fromkeys(MAIL_KINDS, 24 * 3600),
            SECURE: SECURE_MAX_AGE,
            **(mail_max_age or {}),
        }
        self._serializers: dict[tuple[str, str], URLSafeTimedSerializer] = {}
        # Each serializer's signer, made once: ``loads`` would make a new one on every call.
        self._signers: dict[tuple[str, str], TimestampSigner] = {}
        for secret in keys:
            for kind, salt in SALTS.items():
                serializer = URLSafeTimedSerializer(secret, salt=salt)
                self._serializers[(key_id(secret), kind)] = serializer
                self._signers[(key_id(secret), kind)] = serializer.make_signer(salt)
        self.signing_key_id = key_id(keys[-1])

    def issue(
        self,
        kind: str,
        claims: AnyClaims,
    ) -> str:
        """Sign ``claims`` as a token of ``kind`` with the newest key."""
        payload: dict[str, Any]
        if isinstance(claims, PersonalClaims):
            payload = {
                "uid": claims.user_id,
                "tid": claims.token_id,
                "exp": claims.expires_at,
                "nonce": claims.nonce,
            }
        elif isinstance(claims, MfaClaims):
            payload = {"uid": claims.user_id, "cid": claims.challenge_id}
            if claims.device_id is not None:
                payload["did"] = claims.device_id
        elif isinstance(claims, DeviceClaims):
            payload = {"uid": claims.user_id, "did": claims.device_id}
        elif isinstance(claims, PasskeyStateClaims):
            payload = {"p": claims.purpose, "uid": claims.user_id, "ch": claims.challenge}
        elif isinstance(claims, MailClaims):
            payload = {"tid": claims.ticket_id}
        else:
            payload = {"uid": claims.user_id, "sid": claims.session_id}
        if kind == REFRESH:
            payload["gen"] = claims.generation
        signed = self._serializers[(self.signing_key_id, kind)].dumps(payload)
        return f"{kind}.{self.signing_key_id}.{signed}"

    def verify(self, kind: str | Collection[str], token: str) -> AnyClaims:
        """Check form, signature, expiry and kind, in that order; raise ``TokenError``.

        ``kind`` is the kind expected, or a collection of the kinds accepted.
        """
        kinds = {kind} if isinstance(kind, str) else kind
        if not isinstance(token, str) or _TOKEN_FORM.fullmatch(token) is None:
            raise TokenError("malformed token")
        parts = token.split(".", 2)
        if len(parts) != 3:
            raise TokenError("malformed token")
        token_kind, kid, signed = parts
        if token_kind not in SALTS:
            raise TokenError("malformed token")
        serializer = self._serializers.get((kid, token_kind))
        if serializer is None:
            raise TokenError("unknown signing key")
        try:
            # What ``serializer.loads`` does with its one key, with the signer made once.
            value = self._signers[(kid, token_kind)].unsign(
                signed, max_age=self.max_age[token_kind]
            )
            payload = serializer.load_payload(value)
        except SignatureExpired as exc:
            raise TokenError(_expiry_reason(exc)) from None
        except BadData:
            raise TokenError("invalid signature") from None
        if token_kind not in kinds:
            raise TokenError("wrong token type")
        if token_kind == PERSONAL:
            return _personal_claims(payload)
        if token_kind == MFA:
            return _mfa_claims(payload)
        if token_kind == DEVICE:
            return _device_claims(payload)
        if token_kind == PASSKEY_STATE:
            return _passkey_state_claims(payload)
        if token_kind in MAIL_KINDS:
            return _mail_claims(payload)
        return _claims(token_kind, payload)


def _expiry_reason(exc: SignatureExpired) -> str:
    # itsdangerous raises SignatureExpired for tokens from the future too ("age < 0").
    return "token not yet valid" if "< 0" in str(exc) else "token expired"


def _claims(kind: str, payload: Any) -> Claims:
    try:
        user_id, session_id = payload["uid"], payload["sid"]
        generation = payload["gen"] if kind == REFRESH else None
    except (KeyError, TypeError):
        raise TokenError("malformed token") from None
    # The generation is bumped by one in its column: the largest it can be is one less.
    if not (
        _is_id(user_id)
        and _is_random_id(session_id)
        and (kind != REFRESH or _is_int_in(generation, 0, MAX_ID - 1))
    ):
        raise TokenError("malformed token")
    return Claims(user_id, session_id, generation)


def _mail_claims(payload: Any) -> MailClaims:
    ticket_id = payload.get("tid") if isinstance(payload, dict) else None
    if not _is_random_id(ticket_id):
        raise TokenError("malformed token")
    return MailClaims(ticket_id)


def _personal_claims(payload: Any) -> PersonalClaims:
    try:
        user_id, token_id, expires_at = payload["uid"], payload["tid"], payload["exp"]
    except (KeyError, TypeError):
        raise TokenError("malformed token") from None
    if not (_is_id(user_id) and _is_id(token_id) and type(expires_at) is int):
        raise TokenError("malformed token")
    if "nonce" not in payload:
        raise TokenError("outdated token")  # made before tokens named their row's nonce
    nonce = payload["nonce"]
    if not _is_random_id(nonce):
        raise TokenError("malformed token")
    if expires_at <= time.time():
        raise TokenError("token expired")
    return PersonalClaims(user_id, token_id, expires_at, nonce)


def _mfa_claims(payload: Any) -> MfaClaims:
    try:
        user_id, challenge_id = payload["uid"], payload["cid"]
        has_device = "did" in payload
        device_id = payload["did"] if has_device else None
    except (KeyError, TypeError):
        raise TokenError("malformed token") from None
    # The device is optional, but never null or of another form when named.
    if not (
        _is_id(user_id)
        and _is_random_id(challenge_id)
        and (not has_device or _is_random_id(device_id))
    ):
        raise TokenError("malformed token")
    return MfaClaims(user_id, challenge_id, device_id)


def _device_claims(payload: Any) -> DeviceClaims:
    try:
        user_id, device_id = payload["uid"], payload["did"]
    except (KeyError, TypeError):
        raise TokenError("malformed token") from None
    if not (_is_id(user_id) and _is_random_id(device_id)):
        raise TokenError("malformed token")
    return DeviceClaims(user_id, device_id)


def _passkey_state_claims(payload: Any) -> PasskeyStateClaims:
    try:
        purpose, user_id, challenge = payload["p"], payload["uid"], payload["ch"]
    except (KeyError, TypeError):
        raise TokenError("malformed token") from None
    if not (
        isinstance(purpose, str)
        and PURPOSE.fullmatch(purpose)
        and (user_id is None or _is_id(user_id))
        and _is_random_id(challenge)
    ):
        raise TokenError("malformed token")
    return PasskeyStateClaims(purpose, user_id, challenge)


def _is_int_in(value: Any, lowest: int, highest: int) -> bool:
    # bool is an int to Python, never to a column.
    return type(value) is int and lowest <= value <= highest


def _is_id(value: Any) -> bool:
    return _is_int_in(value, 1, MAX_ID)


def _is_random_id(value: Any) -> bool:
    return isinstance(value, str) and RANDOM_ID.fullmatch(value) is not None


def kind_of(token: str) -> str:
    """Return the kind a token says it is; trust it only once ``verify`` accepted the token."""
    return token.partition(".")[0]


def init_app(app: Flask) -> None:
    """Build the app's codec from its signing keys (fallbacks first, newest last)."""
    keys = [*app.config["SECRET_KEY_FALLBACKS"], app.config["SECRET_KEY"]]
    app.extensions["tessera.tokens"] = TokenCodec(
        keys,
        int(app.config["ACCESS_TOKEN_MAX_AGE"]),
        int(app.config["REFRESH_TOKEN_MAX_AGE"]),
        int(app.config["PERSONAL_TOKEN_MAX_AGE"]),
        int(app.config["MFA_TOKEN_MAX_AGE"]),
        int(app.config["DEVICE_TOKEN_MAX_AGE"]),
        passkey_state_max_age=int(app.config["WEBAUTHN_TIMEOUT"]),
        mail_max_age={
            **dict.fromkeys((SIGNUP, VERIFY_EMAIL, INVITE), int(app.config["EMAIL_TOKEN_MAX_AGE"])),
            RESET: int(app.config["PASSWORD_RESET_MAX_AGE"]),
        },
    )


def codec() -> TokenCodec:
    """Return the current app's codec."""
    return current_app.extensions["tessera.tokens"]
