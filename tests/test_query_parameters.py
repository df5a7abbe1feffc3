"""A query names only the parameters its operation takes: anything else is 422, and a query's
errors are called the query's, not the body's.

The operations that take a query are read from the app's own document.
"""

from __future__ import annotations

import pytest
from support.routes import route_map_app

from api import create_app
from api.database import db

QUERY_INVALID = "The query has invalid parameters."
BODY_INVALID = "The request body has invalid fields."


def query_operations() -> list[tuple[str, str]]:
    """Return (method, path) of every operation the document gives a query parameter."""
    document = route_map_app().extensions["tessera.api"].spec.to_dict()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        and any(p["in"] == "query" for p in operation.get("parameters", []))
    ]


QUERIES = query_operations()


def test_the_operations_with_a_query_are_found():
    assert {("GET", "/notes"), ("GET", "/audit"), ("GET", "/users")} <= set(QUERIES)


@pytest.mark.parametrize(("method", "path"), QUERIES)
def test_an_unknown_query_parameter_is_422(client, admin, method, path):
    response = client.open(f"{path}?colour=blue", method=method, headers=admin.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["detail"] == QUERY_INVALID
    assert problem["errors"] == {"colour": ["Unknown field."]}


@pytest.mark.parametrize(("method", "path"), QUERIES)
def test_a_bad_query_value_is_named_as_the_querys(client, admin, method, path):
    response = client.open(f"{path}?page=0", method=method, headers=admin.headers)
    assert response.status_code == 422
    assert response.get_json()["detail"] == QUERY_INVALID
    assert set(response.get_json()["errors"]) == {"page"}


def test_a_filter_by_an_unknown_name_lists_nothing_by_accident(client, admin):
    response = client.get("/audit?user=bob", headers=admin.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"user": ["Unknown field."]}
    assert client.get("/audit?user_id=1", headers=admin.headers).status_code == 200


def test_a_bad_body_is_still_named_as_the_bodys(client, alice):
    response = client.post("/notes", json={"title": "x", "colour": "blue"}, headers=alice.headers)
    assert response.status_code == 422
    assert response.get_json()["detail"] == BODY_INVALID


def test_the_configured_query_token_is_no_unknown_parameter(config, tmp_path, alice):
    app = create_app({**config, "TOKEN_QUERY_PARAM": "access_token"}, str(tmp_path / "qs"))
    client = app.test_client()
    listed = client.get(f"/notes?access_token={alice.access_token}&per_page=5")
    assert listed.status_code == 200
    assert listed.get_json()["per_page"] == 5
    other = client.get(f"/notes?access_token={alice.access_token}&token=x")
    assert other.status_code == 422
    assert set(other.get_json()["errors"]) == {"token"}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
