"""One-time codes: TOTP (RFC 6238) and recovery codes, with no database and no HTTP.

TOTP: a 160-bit secret (RFC 4226's recommendation), 6 digits, 30-second steps, HMAC-SHA1 (what
every authenticator app does by default). A code is checked against the current step and one
step either way (RFC 6238, section 5.2: one step of network delay or clock drift), and only
against steps newer than the last one accepted, so a code never works twice and an older code
never works after a newer one: at most three HMACs a check.

Recovery codes: 16 characters of the RFC 4648 base32 alphabet (80 random bits), shown in
groups of four. They are stored as a plain SHA-256, not a password hash: a password hash is
slow to make up for the few bits a person's password has, while 2**80 candidates are beyond
any search however fast each guess is. A fast, unsalted hash also lets a code be looked up by
its hash (one indexed query), and needs no key that could be lost or would have to rotate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1  # steps accepted either side of the current one
CODE_PATTERN = r"^[0-9]{6}$"

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 10  # 80 bits: 16 base32 characters
RECOVERY_GROUP = 4
# Four groups of four base32 characters, the dashes optional, any case.
RECOVERY_CODE_PATTERN = r"^[A-Za-z2-7]{4}(-?[A-Za-z2-7]{4}){3}$"
_RECOVERY_HASH_PREFIX = b"tessera.recovery-code:"


def new_secret() -> str:
    """Return a new random TOTP secret, base32 as authenticator apps take it."""
    return pyotp.random_base32()  # 32 characters: 160 bits


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """Return the ``otpauth://`` URI an authenticator app reads (from a QR code or typed)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """Return a standalone SVG document of the QR code of ``uri``."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out,
        kind="svg",
        xmldecl=False,
        nl=False,
        scale=4,
        svgclass=None,
        lineclass=None,
        light="#fff",
        title="QR code of the otpauth URI",
    )
    return out.getvalue().decode()


def step_at(timestamp: float) -> int:
    """Return the TOTP time step that ``timestamp`` (seconds since the epoch) falls in."""
    return int(timestamp // STEP_SECONDS)


def code_at_step(secret: str, step: int) -> str:
    """Return the code of ``step`` (what an authenticator shows during it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def accepted_step(secret: str, code: str, timestamp: float, last_step: int | None) -> int | None:
    """Return the step ``code`` belongs to, if it is within the drift of ``timestamp`` and
    newer than ``last_step``; else None."""
    now = step_at(timestamp)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at_step(secret, step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Return a new set of recovery codes, grouped for reading: ``ABCD-EFGH-IJKL-MNOP``."""
    return [_grouped(_random_base32()) for _ in range(RECOVERY_CODE_COUNT)]


def _random_base32() -> str:
    return base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode()


def _grouped(code: str) -> str:
    return "-".join(code[i : i + RECOVERY_GROUP] for i in range(0, len(code), RECOVERY_GROUP))


def normalize_recovery_code(code: str) -> str:
    """Return a recovery code as stored: upper case, without dashes."""
    return code.replace("-", "").upper()


def recovery_code_hash(code: str) -> str:
    """Return the stored hash of a recovery code, however it was typed."""
    normalized = normalize_recovery_code(code).encode()
    return hashlib.sha256(_RECOVERY_HASH_PREFIX + normalized).hexdigest()
