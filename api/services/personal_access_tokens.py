"""Personal access tokens: named, scoped, expiring tokens a user makes for scripts.

The database keeps each token's record (its id, name, scopes, expiry and signing key), never
the token: the token names its row and the row's random nonce, and its signature proves the
server made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from api.audit_writer import audit, clip
from api.credentials import scopes, signed_tokens
from api.database import db
from api.errors import Invalid, NotFound
from api.models import PersonalToken, User, utcnow
from api.origin import Origin
from api.services import notices
from api.services.pages import Page, paginate


@dataclass(frozen=True)
class CreatedToken:
    """A new token's record and the token itself, which is shown only this once.

    It reads as the record too (``created.name``), so one schema dumps both.
    """

    record: PersonalToken
    token: str

    def __getattr__(self, name: str):
        if name in {"record", "token"}:  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.record, name)


def _live(query):
    return query.where(PersonalToken.revoked_at.is_(None), PersonalToken.expires_at > utcnow())


def _lifetime(expires_in: int | None) -> int:
    config = current_app.config
    if expires_in is None:
        return int(config["PERSONAL_TOKEN_DEFAULT_AGE"])
    longest = int(config["PERSONAL_TOKEN_MAX_AGE"])
    if not 1 <= expires_in <= longest:
        raise Invalid(
            f"expires_in must be 1 to {longest} seconds",
            {"expires_in": [f"Must be between 1 and {longest}."]},
        )
    return expires_in


def _allowed(user: User, asked: list[str]) -> frozenset[str]:
    allowed = scopes.personal_scopes_allowed(user.is_admin)
    refused = sorted(set(asked) - allowed)
    if refused:
        raise Invalid(
            f"a personal access token of this user cannot carry {', '.join(refused)}",
            {"scopes": [f"Not a scope this user's token can carry: {', '.join(refused)}."]},
        )
    return frozenset(asked)


def create_personal_token(
    user_id: int,
    name: str,
    asked_scopes: list[str],
    expires_in: int | None = None,
    *,
    origin: Origin,
    dpop_jkt: str | None = None,
) -> CreatedToken:
    """Make a personal access token for the user; raise Invalid for scopes or a lifetime the
    user may not have: ``notes:*`` for anyone, ``users:*`` for admins only. With ``dpop_jkt``
    (a DPoP key's thumbprint) the token works only with proofs of that key."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    granted = _allowed(user, asked_scopes)
    lifetime = _lifetime(expires_in)
    now = utcnow()
    # Whole seconds, so the expiry signed into the token and the row's are the same instant.
    expires_at = (now + timedelta(seconds=lifetime)).replace(microsecond=0)
    codec = signed_tokens.codec()
    record = PersonalToken(
        user_id=user_id,
        name=name,
        scopes=scopes.join(granted),
        key_id=codec.signing_key_id,
        created_at=now,
        expires_at=expires_at,
        nonce=signed_tokens.new_nonce(),
        dpop_jkt=dpop_jkt,
    )
    db.session.add(record)
    db.session.flush()  # the row's id goes into the token
    claims = signed_tokens.PersonalClaims(
        user_id, record.id, int(expires_at.timestamp()), record.nonce
    )
    token = codec.issue(signed_tokens.PERSONAL, claims)
    notices.notify(user_id, "personal_token_created", origin)
    audit(
        "personal_token_created",
        origin=origin,
        user_id=user_id,
        token_id=record.id,
        name=clip(name),
        scopes=record.scope_list,
        expires_at=expires_at.isoformat(),
        **({"dpop_bound": True} if dpop_jkt is not None else {}),
    )
    db.session.commit()
    return CreatedToken(record, token)


def list_personal_tokens(user_id: int, page: int, per_page: int) -> Page[PersonalToken]:
    """Return one page of the user's live personal access tokens, newest first."""
    query = _live(select(PersonalToken).where(PersonalToken.user_id == user_id)).order_by(
        PersonalToken.created_at.desc(), PersonalToken.id.desc()
    )
    return paginate(query, page, per_page)


def get_personal_token(user_id: int, token_id: int) -> PersonalToken:
    """Return one of the user's live tokens; another user's, or an ended one, is NotFound."""
    record = db.session.scalar(
        _live(select(PersonalToken)).where(
            PersonalToken.id == token_id, PersonalToken.user_id == user_id
        )
    )
    if record is None:
        raise NotFound("no such personal access token")
    return record


def delete_personal_token(user_id: int, token_id: int, *, origin: Origin) -> None:
    """End one of the user's tokens at once; another user's, or an ended one, is NotFound."""
    _end(token_id, origin, user_id=user_id)


def revoke_personal_token(token_id: int, *, origin: Origin) -> PersonalToken:
    """End any user's live token (the administrator's CLI); return its record."""
    return _end(token_id, origin)


def _end(token_id: int, origin: Origin, user_id: int | None = None) -> PersonalToken:
    record = db.session.scalar(_live(select(PersonalToken)).where(PersonalToken.id == token_id))
    if record is None or (user_id is not None and record.user_id != user_id):
        raise NotFound("no such personal access token")
    # Only the request that ends a live token records it, however many race to.
    ended = db.session.execute(
        update(PersonalToken)
        .where(PersonalToken.id == token_id, PersonalToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
    if ended != 1:
        db.session.rollback()
        raise NotFound("no such personal access token")
    audit("personal_token_revoked", origin=origin, user_id=record.user_id, token_id=record.id)
    db.session.commit()
    return record


def all_live_tokens(user_id: int | None = None) -> list[tuple[PersonalToken, str]]:
    """Return the live tokens of one user, or of all, with their user's name, oldest first
    (the CLI's listing)."""
    query = _live(
        select(PersonalToken, User.username).join(User, User.id == PersonalToken.user_id)
    ).order_by(PersonalToken.id)
    if user_id is not None:
        query = query.where(PersonalToken.user_id == user_id)
    return [(record, username) for record, username in db.session.execute(query)]


def key_ids_in_use() -> set[str]:
    """Return the ids of the signing keys that live tokens were signed with."""
    query = _live(select(PersonalToken.key_id)).distinct()
    return set(db.session.scalars(query))


def revoke_personal_tokens(user_id: int) -> int:
    """Revoke every live token of the user in the current transaction; return how many.

    The caller commits, with the change that called for it.
    """
    return db.session.execute(
        update(PersonalToken)
        .where(PersonalToken.user_id == user_id, PersonalToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
