"""GET /openapi.json: a valid OpenAPI 3 document of every route, with errors and security right.

And GET /docs: the page and every file it loads come from the app itself.
"""

from __future__ import annotations

import re

import pytest
from openapi_schema_validator import OAS30WriteValidator
from openapi_spec_validator import validate
from support.routes import example_path, openapi_path, operations

from api.http.docs import BUNDLE_VERSION
from api.http.headers import JSON_CSP

# Files, not operations: the Swagger UI page's scripts and styles, and Flask's static folder.
NOT_OPERATIONS = {"docs.asset", "docs.initializer", "passkeys_page.script", "static"}
PUBLIC = {
    ("post", "/login"),
    ("post", "/login/mfa"),
    ("post", "/login/passkey/options"),
    ("post", "/login/passkey"),
    ("post", "/refresh"),
    ("post", "/revoke"),
    ("post", "/signup"),
    ("post", "/signup/verify"),
    ("post", "/password/forgot"),
    ("post", "/password/reset"),
    ("post", "/email/verify"),
    ("post", "/account/secure"),
    ("get", "/health"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/docs/passkeys"),
}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    return response.get_json()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_document_is_valid_openapi_3(document):
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Tessera"


def test_document_is_served_without_a_token(client):
    response = client.get("/openapi.json", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200


def test_every_route_of_the_app_is_documented_and_nothing_else(app, document):
    routes = {
        (method.lower(), openapi_path(rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_OPERATIONS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(method, path) for method, path, _ in _operations(document)}
    assert routes == documented
    assert len(routes) >= 20


def test_operation_ids_are_unique(document):
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))


def test_bearer_scheme_is_declared(document):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "security" not in document  # no global default: each operation says


def test_security_is_on_every_protected_operation_and_on_no_public_one(document):
    for method, path, operation in _operations(document):
        if (method, path) in PUBLIC:
            assert not operation.get("security"), (method, path)
        else:
            assert operation["security"] == [{"bearerAuth": []}, {"dpopAuth": []}], (method, path)


def test_documented_security_matches_what_the_app_enforces(app, client, document):
    """Without a token, exactly the operations that declare the bearer scheme answer 401."""
    checked = 0
    for method, rule, _ in operations(app):
        if rule.endpoint in NOT_OPERATIONS:
            continue
        operation = document["paths"][openapi_path(rule)][method.lower()]
        status = client.open(example_path(rule), method=method, json={}).status_code
        assert (status == 401) == bool(operation.get("security")), (method, rule.rule, status)
        checked += 1
    assert checked == len(list(_operations(document)))


def _statuses(document, method, path) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_each_operation_documents_every_error_it_can_answer(document):
    body = {"400", "413", "415", "422"}
    assert _statuses(document, "post", "/login") == {"200", "429", "401"} | body
    assert _statuses(document, "post", "/refresh") == {"200", "401"} | body
    assert _statuses(document, "get", "/health") == {"200", "503"}
    assert _statuses(document, "get", "/me") == {"200", "401"}
    assert _statuses(document, "get", "/notes") == {"200", "401", "403", "422"}
    assert _statuses(document, "patch", "/notes/{note_id}") == ({"200", "401", "403", "404"} | body)
    assert _statuses(document, "delete", "/sessions/{session_id}") == {
        "204",
        "401",
        "403",
        "404",
    }
    assert _statuses(document, "post", "/password") == {"204", "401", "403", "429"} | body
    assert _statuses(document, "get", "/users") == {"200", "401", "403", "422"}
    assert _statuses(document, "post", "/users") == {"201", "401", "403", "409"} | body
    assert _statuses(document, "patch", "/users/{user_id}") == (
        {"200", "401", "403", "404", "409"} | body
    )
    assert _statuses(document, "delete", "/users/{user_id}") == {
        "204",
        "401",
        "403",
        "404",
        "409",
    }


def test_every_error_response_is_a_problem_document(document):
    responses = document["components"]["responses"]
    problem = {"$ref": "#/components/schemas/Problem"}
    for method, path, operation in _operations(document):
        assert "default" not in operation["responses"]
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            name = response["$ref"].rpartition("/")[2]
            content = responses[name]["content"]
            assert content == {"application/problem+json": {"schema": problem}}, (method, path)
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]
    assert "Retry-After" in responses["TooManyRequests"]["headers"]
    required = document["components"]["schemas"]["Problem"]["required"]
    assert set(required) == {"type", "title", "status"}


def test_request_schemas_are_the_ones_the_code_validates_with(document, client, alice):
    schemas = document["components"]["schemas"]
    note = schemas["Note"]["properties"]
    assert (note["title"]["minLength"], note["title"]["maxLength"]) == (1, 200)
    assert schemas["Note"]["additionalProperties"] is False
    assert schemas["NoteUpdate"]["minProperties"] == 1
    assert schemas["User"]["properties"]["password"]["minLength"] == 8
    assert schemas["User"]["properties"]["password"]["writeOnly"] is True
    too_long = client.post("/notes", json={"title": "x" * 201}, headers=alice.headers)
    assert too_long.status_code == 422
    empty = client.patch("/notes/1", json={}, headers=alice.headers)
    assert empty.status_code == 422


def test_the_password_minimum_in_the_document_follows_the_configuration(config, tmp_path):
    from api import create_app

    config["PASSWORD_MIN_LENGTH"] = 15
    app = create_app(config, instance_path=str(tmp_path / "other"))
    document = app.test_client().get("/openapi.json").get_json()
    assert document["components"]["schemas"]["User"]["properties"]["password"]["minLength"] == 15


def test_docs_page_loads_only_files_served_by_the_app(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    html = response.get_data(as_text=True)
    assert "http:" not in html and "https:" not in html
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(urls) >= 3
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["Cache-Control"].startswith("public, max-age="), url
    assert 'data-spec-url="/openapi.json"' in html


def test_docs_serve_only_the_files_the_page_needs(client):
    assets = f"/docs/assets/{BUNDLE_VERSION}"
    assert client.get(f"{assets}/swagger-ui-bundle.js").status_code == 200
    assert client.get(f"{assets}/index.html").status_code == 404
    assert client.get(f"{assets}/..%2f..%2f__init__.py").status_code == 404


def test_api_responses_keep_the_strict_json_policy(client):
    assert client.get("/health").headers["Content-Security-Policy"] == JSON_CSP


def test_summaries_are_plain_and_descriptions_markdown(document):
    for method, path, operation in _operations(document):
        summary = operation["summary"]
        assert summary and "`" not in summary and "\n" not in summary, (method, path, summary)
        assert "``" not in operation.get("description", ""), (method, path)


def _request_bodies(document):
    """Yield (method, path, schema name, schema) of every operation that takes a body."""
    for method, path, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref")
        if ref is not None:
            name = ref.rpartition("/")[2]
            yield method, path, name, document["components"]["schemas"][name]


def example_body(schema: dict) -> dict:
    """Return the body the docs' Try it out fills in: the schema's example, else its fields'."""
    if "example" in schema:
        return schema["example"]
    return {
        name: field["example"]
        for name, field in schema["properties"].items()
        if not field.get("readOnly")
    }


def test_every_request_body_has_a_readable_example(document):
    bodies = list(_request_bodies(document))
    assert len(bodies) >= 10
    for method, path, name, schema in bodies:
        if "example" in schema:
            continue
        for field_name, field in schema["properties"].items():
            assert field.get("readOnly") or "example" in field, (method, path, name, field_name)


def test_every_example_is_valid_for_its_schema(document):
    for method, path, name, schema in _request_bodies(document):
        rooted = {**schema, "components": document["components"]}
        validator = OAS30WriteValidator(rooted)
        assert list(validator.iter_errors(example_body(schema))) == [], (method, path, name)
        for field_name, field in schema["properties"].items():
            if "example" in field:
                errors = list(OAS30WriteValidator(field).iter_errors(field["example"]))
                assert errors == [], (name, field_name)


def test_every_example_body_is_accepted_by_the_server(client, admin, document):
    """Sent as the docs would send it, no example body is refused for its form or content.

    The credentials in them are no one's (401, 403), a resource may not exist (404), and the
    confirmation of an enrolment never started is 409.
    """
    statuses = {}
    for method, path, _, schema in _request_bodies(document):
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = client.open(url, method=method, json=example_body(schema), headers=admin.headers)
        statuses[method, path] = response.status_code
        if (method, path) == ("post", "/passkeys"):  # its example state is no server's: 422
            assert set(response.get_json()["errors"]) == {"state"}
            continue
        # 202: a mail was asked for; 400: a mail token that is no one's.
        assert response.status_code in {200, 201, 202, 204, 400, 401, 403, 404, 409}, (
            method,
            path,
            response.get_json(),
        )
    assert statuses["post", "/notes"] == statuses["post", "/users"] == 201
    assert statuses["post", "/tokens"] == 201
