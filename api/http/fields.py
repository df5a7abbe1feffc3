"""Fields and base schemas both blueprints use: strict types, times, usernames, passwords,
one-time codes, PATCH bodies, token lifetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.credentials import usernames
from api.credentials.one_time_codes import (
    CODE_PATTERN,
    RECOVERY_CODE_PATTERN,
    normalize_recovery_code,
)
from api.credentials.passwords import MAX_PASSWORD_LENGTH

# Anchored, as JSON Schema reads a pattern, for the OpenAPI document and the validator alike.
USERNAME_PATTERN = f"^{usernames.PATTERN}$"
_UTC_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``, nothing else: not ``1``, ``0``, ``1.0`` or ``"true"``.

    (``1 in {True}`` holds in Python, so ``truthy={True}`` alone lets ``1`` through.)
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if type(value) is not bool:
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(fields.Integer):
    """A JSON integer, nothing else: not ``true``, ``1.0`` or ``"1"``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if type(value) is not int:
            raise self.make_error("invalid", input=value)
        return value


class TokenLifetime(StrictInteger):
    """A personal access token's lifetime in seconds, at least 1. The upper bound is the
    configured ``PERSONAL_TOKEN_MAX_AGE``: the service's to check, the document's to show."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=1), **kwargs)


class UTCTime(fields.AwareDateTime):
    """An ISO 8601 time with an offset (``2026-11-29T10:00:00+00:00``), loaded in UTC.

    Only the form the API answers with (RFC 3339's): ``datetime.fromisoformat`` alone would
    also take others, and a NUL after the offset. A time without an offset is refused: whose
    local time would it be? One past either end of the calendar once in UTC (the first hour of
    the year 1 east of Greenwich) becomes that end, which filters exactly the same.
    """

    default_error_messages = {
        "invalid": "Not an ISO 8601 time with an offset, such as 2026-11-29T10:00:00+00:00."
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)
        self.metadata.setdefault("example", "2026-11-29T10:00:00+00:00")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not _UTC_TIME.fullmatch(value):
            raise self.make_error("invalid")
        try:
            moment = datetime.fromisoformat(value)  # aware: the pattern asks for an offset
        except ValueError:  # a month 13, a 25th hour
            raise self.make_error("invalid") from None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            end = datetime.min if moment.year == 1 else datetime.max
            return end.replace(tzinfo=UTC)


class Username(fields.String):
    """A username being set: the characters the contract allows (``credentials.usernames``)."""

    def __init__(self, **kwargs: Any) -> None:
        rule = validate.Regexp(USERNAME_PATTERN, error=usernames.FIELD_MESSAGE)
        super().__init__(validate=rule, **kwargs)


class Password(fields.String):
    """A password being checked: never dumped, at most ``MAX_PASSWORD_LENGTH`` characters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            load_only=True, validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH), **kwargs
        )


class NewPassword(fields.String):
    """A password being set. The rules that need the configuration or the username are the
    service's (``check_new_password``); the OpenAPI document shows the configured minimum."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            load_only=True, validate=validate.Length(max=MAX_PASSWORD_LENGTH), **kwargs
        )


class _OneTimeCode(fields.String):
    """A code being checked, never dumped: the whole string must match ``pattern`` (a
    trailing newline too is refused, where a regex's ``$`` would let it through)."""

    pattern = ""
    rule = ""
    description = ""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"description": self.description, "pattern": self.pattern}
        metadata.update(kwargs.pop("metadata", {}))  # a view's example joins these
        super().__init__(load_only=True, metadata=metadata, **kwargs)
        self._compiled = re.compile(self.pattern)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not self._compiled.fullmatch(value):
            raise ValidationError(self.rule)
        return self.loaded(value)

    def loaded(self, code: str) -> str:
        """Return a valid code as the use case takes it."""
        return code


class TotpCode(_OneTimeCode):
    """The 6 digits an authenticator app shows, as a string."""

    pattern = CODE_PATTERN
    rule = "Must be 6 digits."
    description = "The 6-digit code the authenticator app shows now."


class RecoveryCode(_OneTimeCode):
    """One of the recovery codes, dashes optional, any case; loaded as stored (upper case,
    no dashes)."""

    pattern = RECOVERY_CODE_PATTERN
    rule = "Must be a recovery code: XXXX-XXXX-XXXX-XXXX."
    description = "One of the recovery codes, `XXXX-XXXX-XXXX-XXXX` (base32, any case)."

    def loaded(self, code: str) -> str:
        return normalize_recovery_code(code)


class PartialUpdateSchema(Schema):
    """A PATCH body: any of the fields, but at least one (``minProperties: 1`` in the docs)."""

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(f"Give at least one of {', '.join(self.fields)}.", "_schema")
