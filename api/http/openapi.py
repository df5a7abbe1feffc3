"""The OpenAPI document at ``/openapi.json``, derived from the views.

flask-smorest documents each view's success response and request body from the same schemas
the views validate with. The rest is read here, operation by operation, from the view's own
decorators: every error status it can answer (as problem+json) from its shape, its guard
(``security.requires``) and its ``@raises``, and the bearer scheme where it has a guard.

Each operation's summary is plain text (Swagger UI shows it as it is), made from the first
line of the view's docstring; its description is Markdown, where a docstring's RST literal
(two backticks) becomes a Markdown code span.

The scope an operation needs is named in an ``x-required-scope`` extension and in its
description, not in its security requirement: OpenAPI 3.0 says the list of a requirement
MUST be empty for an ``http`` scheme (only ``oauth2`` and ``openIdConnect`` schemes list
scopes there), so ``[{"bearerAuth": []}]`` stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_smorest import Api
from werkzeug.routing import Rule

from api import __version__
from api.credentials import scopes
from api.credentials.dpop_proofs import ALGORITHMS
from api.credentials.passwords import MAX_PASSWORD_LENGTH
from api.errors import PROBLEM_JSON, ProblemSchema, too_large_detail
from api.http.blueprint import declared_errors
from api.http.fields import NewPassword, PartialUpdateSchema, TokenLifetime
from api.security import access_of

BEARER = "bearerAuth"
DPOP = "dpopAuth"
# Either scheme: a bearer token, or a DPoP-bound one with its proof (RFC 9449).
SECURITY = [{BEARER: []}, {DPOP: []}]
# The JSON parser refuses U+0000 in any string of a body (see ``json_body.py``).
NO_NUL = "^[^\\u0000]*$"

_RST_LITERAL = re.compile(r"``([^`]+)``")

# The 413 is described in ``init_spec``, from the configured limit.
_ERROR_DESCRIPTIONS = {
    400: "The body is not JSON, not a JSON object, or holds a NUL character.",
    401: (
        "No valid bearer token (or, on /login and /refresh, no valid credentials); on an "
        "operation that needs a fresh login, a login older than `REAUTH_MAX_AGE` "
        '(`error="insufficient_user_authentication"`, RFC 9470).'
    ),
    403: (
        "Authenticated, but not allowed: the token lacks the operation's scope "
        '(`error="insufficient_scope"` in `WWW-Authenticate`), or the use case refuses.'
    ),
    404: "No such resource, or not the caller's.",
    409: "The change conflicts with the current state.",
    415: "The body is not application/json.",
    422: (
        "The body has invalid fields, or the query invalid or unknown parameters; `errors` "
        "says which."
    ),
    429: "Too many failed password or code checks; retry after `Retry-After` seconds.",
    503: "The database does not answer.",
}

_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": (
                'The RFC 6750 challenge, `Bearer realm="api"` and why a token failed; to a '
                "request with the DPoP scheme, or a DPoP-bound token sent as a bearer token, "
                'RFC 9449\'s `DPoP algs="..."` with `error="invalid_token"` or '
                '`error="invalid_dpop_proof"`.'
            ),
            "schema": {"type": "string"},
        }
    },
    403: {
        "WWW-Authenticate": {
            "description": (
                'When the token lacks the scope: `Bearer realm="api", '
                'error="insufficient_scope", scope="<the scope>"`.'
            ),
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds until a password or code may be tried again.",
            "schema": {"type": "integer"},
        }
    },
}


def response_name(status: int) -> str:
    """Return the name of the shared error response component for ``status``."""
    return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")


def error_statuses(view: Callable[..., Any], rule: Rule, operation: dict) -> set[int]:
    """Return every error status the operation of ``rule`` can answer with."""
    statuses = set(declared_errors(view))
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    if any(p.get("in") == "query" for p in operation.get("parameters", [])):
        statuses.add(422)
    if rule.arguments:
        statuses.add(404)
    access = access_of(view)
    if access is not None:
        statuses.add(401)
        if access.scope is not None:
            statuses.add(403)
    return statuses


class CompleteDocument(BasePlugin):
    """An apispec plugin that adds error responses and security to each operation."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def init_spec(self, spec: APISpec) -> None:
        self.spec = spec
        spec.components.security_scheme(
            BEARER,
            {
                "type": "http",
                "scheme": "bearer",
                "description": (
                    "The `access_token` from `POST /login` or `POST /refresh`, or a personal "
                    "access token from `POST /tokens`. Each operation names the scope it "
                    "needs in `x-required-scope`; the scopes:\n\n"
                    + "\n".join(f"- `{s.name}`: {s.description}" for s in scopes.declared())
                ),
            },
        )
        spec.components.security_scheme(
            DPOP,
            {
                "type": "http",
                "scheme": "dpop",
                "description": (
                    "A token bound to a DPoP key (RFC 9449): `Authorization: DPoP <token>` "
                    "with a `DPoP` header, a proof JWT signed with that key for this request, "
                    f"whose `ath` is the token's hash. Algorithms: {', '.join(ALGORITHMS)}. "
                    "The scopes are the bearer scheme's."
                ),
            },
        )
        spec.components.schema("Problem", schema=ProblemSchema)
        too_large = too_large_detail(self.app.config["MAX_CONTENT_LENGTH"])
        descriptions = {**_ERROR_DESCRIPTIONS, 413: too_large}
        for status, description in sorted(descriptions.items()):
            response = {
                "description": description,
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
            if status in _HEADERS:
                response["headers"] = _HEADERS[status]
            spec.components.response(response_name(status), response, lazy=True)
        marshmallow_plugin = next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin))
        marshmallow_plugin.converter.add_attribute_function(self._new_password_properties())
        marshmallow_plugin.converter.add_attribute_function(self._token_lifetime_properties())

    def _new_password_properties(self) -> Callable[..., dict]:
        minimum = int(self.app.config["PASSWORD_MIN_LENGTH"])

        rules = (
            f"{minimum} to {MAX_PASSWORD_LENGTH} characters; not one of the common passwords "
            "the server refuses, nor the username (422 says which rule)."
        )

        def new_password_properties(converter, field, **kwargs) -> dict:
            if not isinstance(field, NewPassword):
                return {}
            return {"minLength": minimum, "description": rules}

        return new_password_properties

    def _token_lifetime_properties(self) -> Callable[..., dict]:
        longest = int(self.app.config["PERSONAL_TOKEN_MAX_AGE"])

        def token_lifetime_properties(converter, field, **kwargs) -> dict:
            if not isinstance(field, TokenLifetime):
                return {}
            properties = {"maximum": longest}
            if "example" in field.metadata:  # valid under any configured maximum
                properties["example"] = min(field.metadata["example"], longest)
            return properties

        return token_lifetime_properties

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        schema = kwargs.get("schema")
        schema_class = schema if isinstance(schema, type) else type(schema)
        # A rule across fields that a schema's ``@validates_schema`` enforces, in JSON Schema.
        rules = dict(getattr(schema_class, "json_schema_rules", {}))
        if issubclass(schema_class, PartialUpdateSchema):
            rules["minProperties"] = 1
        # A whole body, where the fields' examples together would break such a rule.
        example = getattr(schema_class, "json_schema_example", None)
        if example is not None:
            rules["example"] = example
        return rules or None

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **kwargs: Any
    ) -> None:
        rule: Rule | None = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = self.app.view_functions[rule.endpoint]
        for operation in operations.values():
            operation.setdefault("operationId", rule.endpoint.rpartition(".")[2])
            responses = {str(code): doc for code, doc in operation.get("responses", {}).items()}
            for status in error_statuses(view, rule, operation):
                # A response a view documents by hand wins over the generic one, except
                # flask-smorest's own 422 (from ``@blp.arguments``), which is in its shape.
                if str(status) not in responses or status == 422:
                    responses[str(status)] = response_name(status)
            operation["responses"] = dict(sorted(responses.items()))
            access = access_of(view)
            if access is not None:
                operation["security"] = [dict(requirement) for requirement in SECURITY]
                self._name_the_access(operation, access)
            self._forbid_nul_in_body(operation)
            _write_for_the_docs(operation)

    def _name_the_access(self, operation: dict, access: Any) -> None:
        """Say in the operation which scope it needs and whether the login must be fresh."""
        notes = []
        if access.scope is not None:
            operation["x-required-scope"] = access.scope
            notes.append(f"Scope: `{access.scope}`.")
        else:
            notes.append("Any valid token: no particular scope.")
        if access.fresh:
            max_age = int(self.app.config["REAUTH_MAX_AGE"])
            operation["x-max-authentication-age"] = max_age
            notes.append(f"Needs a login at most {max_age} seconds old (RFC 9470).")
        description = operation.get("description", "")
        operation["description"] = "\n\n".join(filter(None, [description, " ".join(notes)]))

    def _forbid_nul_in_body(self, operation: dict) -> None:
        """Give each free-text field of the operation's body the pattern the parser enforces."""
        content = operation.get("requestBody", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        schema = self.spec.components.schemas.get(ref.rpartition("/")[2], {})
        for field in schema.get("properties", {}).values():
            if field.get("type") == "string" and not field.keys() & {"pattern", "format"}:
                field["pattern"] = NO_NUL


def plain_summary(text: str) -> str:
    """Return a docstring's first line as plain text: one line, no backticks."""
    return " ".join(text.replace("`", "").split())


def markdown_description(text: str) -> str:
    """Return a docstring's body as Markdown: an RST literal becomes a code span."""
    return _RST_LITERAL.sub(r"`\1`", text)


def _write_for_the_docs(operation: dict) -> None:
    if "summary" in operation:
        operation["summary"] = plain_summary(operation["summary"])
    if "description" in operation:
        operation["description"] = markdown_description(operation["description"])


def document_page(app: Flask, endpoint: str, summary: str, content_type: str) -> None:
    """Describe a GET endpoint that is not an API view (the document itself, the docs page)."""
    schema = {"type": "object"} if content_type == "application/json" else {"type": "string"}
    operation = {
        "tags": ["docs"],
        "summary": summary,
        "responses": {"200": {"description": "OK", "content": {content_type: {"schema": schema}}}},
    }
    rule = next(app.url_map.iter_rules(endpoint))
    app.extensions["tessera.api"].spec.path(rule=rule, operations={"get": operation})


class DocumentedApi(Api):
    """flask-smorest's Api with every error in the one problem+json shape."""

    ERROR_SCHEMA = ProblemSchema
    # Errors are documented per status by CompleteDocument, in the one problem+json shape.
    DEFAULT_ERROR_RESPONSE_NAME = None


def init_app(app: Flask) -> Api:
    """Make the app's own Api: the document is served at ``/openapi.json``, completed here."""
    app.config.setdefault("API_TITLE", "Tessera")
    app.config.setdefault("API_VERSION", __version__)
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Bearer-token JSON API. Every error is an RFC 9457 problem document "
                    f"(`{PROBLEM_JSON}`)."
                )
            }
        },
    )
    documented = DocumentedApi(app, spec_kwargs={"extra_plugins": [CompleteDocument(app)]})
    app.extensions["tessera.api"] = documented
    # Pagination here is in the body, not in flask-smorest's X-Pagination header.
    documented.spec.components.schemas.pop("PaginationMetadata", None)
    documented.spec.tag({"name": "docs", "description": "This document and the interactive docs."})
    document_page(app, "api-docs.openapi_json", "This OpenAPI document.", "application/json")
    return documented
