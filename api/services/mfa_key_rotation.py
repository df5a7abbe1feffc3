"""Rotating the MFA encryption key: every stored TOTP secret encrypted again with the newest
key (the CLI's ``secret rotate-mfa-key``)."""

from __future__ import annotations

from sqlalchemy import or_, select

from api.credentials import secret_box
from api.database import db
from api.models import User


def reencrypt_secrets(box: secret_box.SecretBox) -> int:
    """Encrypt every stored TOTP secret again with ``box``'s newest key, in one transaction;
    return how many secrets. If one cannot be, none is: the error is raised after a rollback."""
    count = 0
    try:
        for user in db.session.scalars(
            select(User).where(
                or_(User.totp_secret.is_not(None), User.totp_pending_secret.is_not(None))
            )
        ):
            if user.totp_secret is not None:
                user.totp_secret = box.rotate(user.totp_secret)
                count += 1
            if user.totp_pending_secret is not None:
                user.totp_pending_secret = box.rotate(user.totp_pending_secret)
                count += 1
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return count
