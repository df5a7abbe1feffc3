"""One error shape for everything: RFC 9457 problem documents.

Services raise the typed errors below (the rate limits' refusals among them); werkzeug and
webargs raise ``HTTPException``; anything else is a crash. All three end up in ``problem()``.
"""

from __future__ import annotations

import json as stdlib_json
import logging
import sqlite3
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, has_request_context, json, request
from flask_login import current_user
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from api import database
from api.credentials.dpop_proofs import ALGORITHMS
from api.database import db
from api.models import User

log = logging.getLogger("tessera")

PROBLEM_JSON = "application/problem+json"
# RFC 6750 section 3: every 401 names the scheme and realm.
CHALLENGE = 'Bearer realm="api"'
# RFC 9449 section 7.1: the challenge of a request that used the DPoP scheme, or of a
# DPoP-bound token sent as a bearer token, names the algorithms a proof may use.
DPOP_CHALLENGE = f'DPoP algs="{" ".join(ALGORITHMS)}"'
INVALID_DPOP_PROOF = "invalid_dpop_proof"
SCHEMA_NOT_READY = "The database schema is not ready: run init-db."
SCHEMA_RETRY_AFTER = 5  # seconds: an init-db takes a few
_SIZE_UNITS = ((1024 * 1024, "MiB"), (1024, "KiB"))
_TITLES = {status.value: status.phrase for status in HTTPStatus}
# PostgreSQL's foreign_key_violation; SQLite says it with an extended result code.
FOREIGN_KEY_VIOLATION_STATE = "23503"
DELETED_CALLER = "user deleted"


class ProblemSchema(Schema):
    """RFC 9457 problem details, the shape of every error."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())
    # Only in the 401 of POST /login for a user with TOTP on (the right password).
    mfa_required = fields.Boolean(
        metadata={"description": "POST /login: the password was right; a code is needed."}
    )
    mfa_token = fields.String(
        metadata={"description": "POST /login: send it with a code to POST /login/mfa."}
    )
    mfa_expires_in = fields.Integer(
        metadata={"description": "POST /login: seconds the mfa_token stays valid."}
    )
    error = fields.String(
        metadata={
            "description": (
                "At the token endpoints, `invalid_dpop_proof`: the DPoP proof was refused "
                "(RFC 9449 section 5)."
            )
        }
    )


class ServiceError(Exception):
    """A use case refused; ``detail`` is safe to show to the client and the administrator."""

    status = 400

    def __init__(
        self,
        detail: str,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        # Members of the problem document beyond the standard ones (RFC 9457, section 3.2).
        self.extra = extra or {}


class InvalidCredentials(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    """Input that passed the schema but breaks a rule (a weak password, a bad username)."""

    status = 422


class TooManyAttempts(ServiceError):
    """Too many failed password or code checks; ``Retry-After`` says when to try again."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many failed attempts; try again later.",
            headers={"Retry-After": str(retry_after)},
        )


class InvalidDpopProof(ServiceError):
    """A token endpoint refused the request's DPoP proof, or needed one (RFC 9449 section 5):
    nothing the request came with was spent."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, extra={"error": INVALID_DPOP_PROOF})


class Unavailable(ServiceError):
    status = 503


class SchemaNotReady(Unavailable):
    """The database answers, but its schema is missing or older than the code."""

    def __init__(self) -> None:
        super().__init__(SCHEMA_NOT_READY, headers={"Retry-After": str(SCHEMA_RETRY_AFTER)})


def problem(
    status: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Make a problem+json response."""
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    if status == 401 and headers and has_request_context():
        headers = _in_the_request_scheme(headers)
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if extra:
        body.update(extra)
        text = json.dumps(body)  # the app's encoder: ``errors`` may hold any value
    else:
        text = stdlib_json.dumps(body)  # strings and a number: the same text, sooner
    return Response(text, status=status, content_type=PROBLEM_JSON, headers=headers)


def _in_the_request_scheme(headers: dict[str, str]) -> dict[str, str]:
    """Answer a request made with the DPoP scheme (or a DPoP-bound token sent as bearer)
    with the DPoP challenge, whatever the refusal: RFC 9449 section 7.1."""
    challenge = headers.get("WWW-Authenticate", "")
    if not challenge.startswith(CHALLENGE):
        return headers
    scheme = request.environ.get("HTTP_AUTHORIZATION", "")[:5].lower()
    if scheme != "dpop " and not g.get("dpop_challenge"):
        return headers
    return {**headers, "WWW-Authenticate": DPOP_CHALLENGE + challenge[len(CHALLENGE) :]}


def handle_service_error(error: ServiceError) -> Response:
    extra = {"errors": error.errors} if error.errors else {}
    extra.update(error.extra)
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", CHALLENGE)
    return problem(error.status, error.detail, headers=headers, **extra)


def handle_http_exception(error: HTTPException) -> Response:
    """Keep the exception's own headers (405's ``Allow``, 429's ``Retry-After``), not its body."""
    status = error.code or 500
    # ``abort(response)`` carries its headers in the response; other exceptions describe theirs.
    raw = error.response.headers.items() if error.response is not None else error.get_headers()
    headers = {k: v for k, v in raw if k.lower() not in {"content-type", "content-length"}}
    data = getattr(error, "data", None) or {}
    extra = {}
    messages = data.get("messages")
    if messages:  # webargs / marshmallow validation errors, keyed by location
        extra["errors"] = _flatten(messages)
    detail = data.get("message") or _describe(error)
    return problem(status, detail, headers=headers, **extra)


def _describe(error: HTTPException) -> str | None:
    if error.code == 422:
        locations = (getattr(error, "data", None) or {}).get("messages") or {}
        if locations and set(locations) <= {"query", "querystring"}:
            return "The query has invalid parameters."
        return "The request body has invalid fields."
    description = error.description or ""
    return description if description != type(error).description else _default_detail(error)


def _default_detail(error: HTTPException) -> str | None:
    return {
        404: "No such resource.",
        405: "This method is not allowed here.",
        413: too_large_detail(request.max_content_length),
        415: "The request body must be JSON (Content-Type: application/json).",
    }.get(error.code or 0)


def too_large_detail(limit: int | None) -> str:
    """Say what a 413 refuses, naming the limit the app enforces (``MAX_CONTENT_LENGTH``).

    The limit is a setting, so the text is made from it: a literal would go stale the day
    someone changes it.
    """
    if limit is None:
        return "The request body is too large."
    return f"The request body is larger than {describe_size(limit)}."


def describe_size(size: int) -> str:
    """Write ``size`` bytes in the largest binary unit that holds it exactly (``1 MiB``)."""
    for unit_size, unit in _SIZE_UNITS:
        if size >= unit_size and size % unit_size == 0:
            return f"{size // unit_size} {unit}"
    return f"{size} byte{'' if size == 1 else 's'}"


def _flatten(messages: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            errors.update(location_errors)
    return errors


def handle_redirect(error: RequestRedirect) -> Response:
    """No redirect: its ``Location`` would be built from the client's ``Host`` header."""
    return problem(404, "No such resource.")


def handle_database_unavailable(error: Exception) -> Response:
    """The database is down, restarting, out of connections or (SQLite) locked for too long.

    Nothing was committed, so the client may simply retry; a 503 says so, where a 500 would
    claim a bug. The log names the cause without the SQL statement or its parameters.
    """
    if database.is_missing_schema_error(error):
        return handle_schema_not_ready(error)
    cause = getattr(error, "orig", None) or error
    log.warning("database unavailable: %s: %s", type(cause).__name__, str(cause)[:200])
    return problem(503, "The database is unavailable; retry shortly.", headers={"Retry-After": "1"})


def handle_schema_not_ready(error: Exception) -> Response:
    """A table or column the code uses is missing: ``init-db`` has not run for this release."""
    database.forget_schema_ready()  # /health asks the database again
    cause = getattr(error, "orig", None) or error
    log.warning("database schema not ready: %s", str(cause).splitlines()[0][:200])
    return handle_service_error(SchemaNotReady())


def handle_row_deleted_meanwhile(error: Exception) -> Response:
    """A row this request read or names was deleted by another before this one wrote.

    Nothing of the request is kept: its transaction is rolled back. It answers as it would
    have, had it come after the delete: 401 when what went is the caller's own user (a user
    deleted while their own requests write), else 404.
    """
    db.session.rollback()
    log.info("row deleted under a running request: %s", type(error).__name__)
    if _caller_deleted():
        challenge = f'{CHALLENGE}, error="invalid_token", error_description="{DELETED_CALLER}"'
        return problem(401, DELETED_CALLER, headers={"WWW-Authenticate": challenge})
    return problem(404, "No such resource: it was deleted meanwhile.")


def handle_integrity_error(error: IntegrityError) -> Response:
    """A foreign key refused a write: the row it names was deleted meanwhile. Any other
    integrity error the services did not catch is a bug."""
    if not is_foreign_key_violation(error):
        return handle_crash(error)
    return handle_row_deleted_meanwhile(error)


def is_foreign_key_violation(error: DBAPIError) -> bool:
    """Tell whether a database error says a row the statement refers to does not exist."""
    cause = getattr(error, "orig", None)
    if getattr(cause, "sqlstate", None) == FOREIGN_KEY_VIOLATION_STATE:
        return True
    return (
        isinstance(cause, sqlite3.IntegrityError)
        and getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
    )


def _caller_deleted() -> bool:
    """Tell whether the request's authenticated caller has no user row any more."""
    if not current_user.is_authenticated:
        return False
    return db.session.scalar(select(User.id).where(User.id == current_user.id)) is None


def handle_crash(error: Exception) -> Response:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return handle_database_unavailable(error)  # the connection dropped mid-request
    if isinstance(error, DBAPIError) and database.is_missing_schema_error(error):
        return handle_schema_not_ready(error)  # PostgreSQL's undefined table or column
    log.exception("unhandled error")
    return problem(500, "The server failed to answer; the error was logged.")


def register_error_handlers(app: Flask) -> None:
    """Turn every error the app can meet into problem+json."""
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(RequestRedirect, handle_redirect)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(PoolTimeout, handle_database_unavailable)
    app.register_error_handler(StaleDataError, handle_row_deleted_meanwhile)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(ObjectDeletedError, handle_row_deleted_meanwhile)
    app.register_error_handler(Exception, handle_crash)
