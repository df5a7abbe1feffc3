"""A user's passkeys: registering one, listing, renaming and removing them; the
administrator's listing and revocation. Logging in with one is ``passkey_login``'s.

The database keeps each passkey's credential id and public key, never a secret. A credential
id belongs to one account: the column is unique, so of two registrations of one id (by the
same user or by two) exactly one wins, and the other is 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from api.audit_writer import audit, clip
from api.credentials import passkey_states, passkeys
from api.database import db
from api.errors import Conflict, Invalid, InvalidCredentials, NotFound
from api.models import Passkey, PasskeyUserHandle, User, utcnow
from api.origin import Origin
from api.services import notices
from api.services.pages import Page, paginate

TAKEN = "this passkey is registered already"


@dataclass(frozen=True)
class Ceremony:
    """The start of a ceremony: the ``state`` to send back, and the WebAuthn options."""

    state: str
    options: dict[str, Any]


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidCredentials("user deleted")
    return user


def user_handle(user_id: int) -> str:
    """Return the user's WebAuthn user handle, made (random) the first time it is asked.

    Written in the current transaction; of two first requests at once, one handle is kept.
    """
    handle = db.session.scalar(
        select(PasskeyUserHandle.handle).where(PasskeyUserHandle.user_id == user_id)
    )
    if handle is not None:
        return handle
    insert = passkey_states.insert_for(db.session)(PasskeyUserHandle.__table__)
    db.session.execute(
        insert.values(user_id=user_id, handle=passkeys.new_user_handle()).on_conflict_do_nothing()
    )
    return db.session.scalar(
        select(PasskeyUserHandle.handle).where(PasskeyUserHandle.user_id == user_id)
    )


def registered(user_id: int) -> list[tuple[str, list[str]]]:
    """Return the user's passkeys as the options name them: credential id and transports."""
    rows = db.session.scalars(select(Passkey).where(Passkey.user_id == user_id))
    return [(row.credential_id, row.transport_list) for row in rows]


def registration_options(user_id: int) -> Ceremony:
    """Start registering a passkey for the user: creation options and their state."""
    user = _user(user_id)
    handle = user_handle(user_id)
    state, challenge = passkey_states.issue(passkey_states.REGISTER, user_id)
    options = passkeys.creation_options(
        passkeys.relying_party(), challenge, handle, user.username, registered(user_id)
    )
    db.session.commit()  # the user handle, when it is new
    return Ceremony(state, options)


def register(
    user_id: int,
    session_id: str | None,
    state: str,
    credential: dict,
    name: str | None,
    *,
    origin: Origin,
) -> Passkey:
    """Finish registering a passkey: check the state and the authenticator's response, keep
    the credential. A refused state or response is Invalid (422), a credential id already
    registered (by anyone) a Conflict (409)."""
    try:
        challenge = passkey_states.open_state(state, passkey_states.REGISTER, user_id)
    except passkey_states.StateRefused as refused:
        raise Invalid(refused.reason, {"state": [_sentence(refused.reason)]}) from None
    _user(user_id)
    try:
        new = passkeys.verify_registration(passkeys.relying_party(), credential, challenge)
    except passkeys.PasskeyRefused as refused:
        audit(
            "passkey_added",
            "failure",
            origin=origin,
            user_id=user_id,
            session_id=session_id,
            refused=True,
            reason=refused.reason,
        )
        raise Invalid(
            "the passkey was refused", {"credential": ["The authenticator's response failed."]}
        ) from None
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == new.credential_id)):
        raise Conflict(TAKEN)
    if not passkey_states.spend(challenge):
        db.session.rollback()
        raise Invalid("state refused: already used", {"state": ["Already used."]})
    now = utcnow()
    record = Passkey(
        user_id=user_id,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        name=name or f"Passkey {now:%Y-%m-%d}",
        transports=" ".join(new.transports),
        backed_up=new.backed_up,
        created_at=now,
    )
    db.session.add(record)
    try:
        db.session.flush()  # the row's id goes into the event
        notices.notify(user_id, "passkey_added", origin)
        audit(
            "passkey_added",
            origin=origin,
            user_id=user_id,
            session_id=session_id,
            passkey_id=record.id,
            name=clip(record.name),
        )
        db.session.commit()
    except IntegrityError:  # another request registered the same credential id meanwhile
        db.session.rollback()
        raise Conflict(TAKEN) from None
    return record


def _sentence(reason: str) -> str:
    return reason[0].upper() + reason[1:] + "."


def _owned(user_id: int, passkey_id: int) -> Passkey:
    record = db.session.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user_id)
    )
    if record is None:
        raise NotFound("no such passkey")
    return record


def list_passkeys(user_id: int, page: int, per_page: int) -> Page[Passkey]:
    """Return one page of the user's passkeys, newest first."""
    query = (
        select(Passkey)
        .where(Passkey.user_id == user_id)
        .order_by(Passkey.created_at.desc(), Passkey.id.desc())
    )
    return paginate(query, page, per_page)


def get_passkey(user_id: int, passkey_id: int) -> Passkey:
    """Return one of the user's passkeys; another user's is NotFound."""
    return _owned(user_id, passkey_id)


def rename_passkey(user_id: int, passkey_id: int, name: str, *, origin: Origin) -> Passkey:
    """Rename one of the user's passkeys; another user's is NotFound."""
    record = _owned(user_id, passkey_id)
    record.name = name
    audit("passkey_renamed", origin=origin, user_id=user_id, passkey_id=passkey_id)
    db.session.commit()
    return record


def delete_passkey(
    user_id: int, passkey_id: int, *, origin: Origin, session_id: str | None = None
) -> None:
    """Remove one of the user's passkeys: it logs no one in from now on."""
    _remove(passkey_id, origin, user_id=user_id, session_id=session_id)


def revoke_passkey(passkey_id: int, *, origin: Origin) -> tuple[int, str]:
    """Remove any user's passkey (the administrator's CLI); return its id and name."""
    return _remove(passkey_id, origin)


def _remove(
    passkey_id: int, origin: Origin, user_id: int | None = None, session_id: str | None = None
) -> tuple[int, str]:
    query = select(Passkey).where(Passkey.id == passkey_id)
    if user_id is not None:
        query = query.where(Passkey.user_id == user_id)
    record = db.session.scalar(query)
    if record is None:
        raise NotFound("no such passkey")
    owner, name = record.user_id, record.name
    # Only the request that removes the row records it, however many race to.
    removed = db.session.execute(delete(Passkey).where(Passkey.id == passkey_id)).rowcount
    if removed != 1:
        db.session.rollback()
        raise NotFound("no such passkey")
    notices.notify(owner, "passkey_removed", origin)
    audit(
        "passkey_removed",
        origin=origin,
        user_id=owner,
        session_id=session_id,
        passkey_id=passkey_id,
        name=clip(name),
    )
    db.session.commit()
    return passkey_id, name


def all_passkeys(user_id: int | None = None) -> list[tuple[Passkey, str]]:
    """Return the passkeys of one user, or of all, with their user's name, oldest first (the
    CLI's listing)."""
    query = (
        select(Passkey, User.username).join(User, User.id == Passkey.user_id).order_by(Passkey.id)
    )
    if user_id is not None:
        query = query.where(Passkey.user_id == user_id)
    return [(record, username) for record, username in db.session.execute(query)]


def count_usable(user_id: int) -> int:
    """Return how many of the user's passkeys can log in (none disabled as a suspected clone)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Passkey)
        .where(Passkey.user_id == user_id, Passkey.disabled_at.is_(None))
    )
