"""The input boundary: whatever bytes arrive as a JSON body, the answer is 2xx or 4xx, and a
4xx stores nothing. Hypothesis generates the bodies; the routes come from the app's document.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.routes import example_path, openapi_path, operations
from support.rows import row_counts

from api.http.json_body import MAX_DEPTH

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def json_routes(app) -> list[tuple[str, str]]:
    """(method, example path) of every operation that takes a JSON body, from the document."""
    document = app.test_client().get("/openapi.json").get_json()
    return [
        (method, example_path(rule))
        for method, rule, _ in operations(app)
        if "requestBody" in document["paths"].get(openapi_path(rule), {}).get(method.lower(), {})
    ]


@pytest.fixture
def target(app, admin, client):
    """Every JSON route, an admin token, and a note of the admin's at id 1."""
    created = client.post("/notes", json={"title": "kept"}, headers=admin.headers)
    assert created.get_json()["id"] == 1
    routes = json_routes(app)
    assert {("POST", "/login"), ("POST", "/notes"), ("PATCH", "/users/1")} <= set(routes)
    return routes, admin.headers


def _send(client, method, path, body: bytes, headers, content_type="application/json"):
    return client.open(path, method=method, data=body, content_type=content_type, headers=headers)


def _assert_refused_cleanly_or_accepted(app, client, routes, headers, body: bytes) -> None:
    for method, path in routes:
        before = row_counts(app)
        response = _send(client, method, path, body, headers)
        assert response.status_code < 500, (method, path, body[:80])
        if response.status_code >= 400:
            assert response.content_type == "application/problem+json"
            assert row_counts(app) == before, (method, path, body[:80])


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(body=st.binary(max_size=300))
def test_any_bytes_get_a_clean_answer_and_a_refusal_stores_nothing(app, client, target, body):
    _assert_refused_cleanly_or_accepted(app, client, *target, body)


@FUZZ
@given(
    value=json_values,
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"]),
    ensure_ascii=st.booleans(),
)
def test_any_json_in_any_encoding_gets_a_clean_answer(
    app, client, target, value, encoding, ensure_ascii
):
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    body = text.encode(encoding, errors="surrogatepass")
    _assert_refused_cleanly_or_accepted(app, client, *target, body)


@FUZZ
@given(
    depth=st.integers(min_value=MAX_DEPTH - 2, max_value=3000),
    opener=st.sampled_from(['{"a":', "[", '{"title":[']),
    inner=st.sampled_from(['"x"', '"\\u0041"', '"\\ud800"', "1", '"a\\u0000"']),
)
def test_any_nesting_gets_a_clean_answer(app, client, target, depth, opener, inner):
    closer = {"[": "]", '{"a":': "}", '{"title":[': "]}"}[opener]
    body = (opener * depth + inner + closer * depth).encode()
    _assert_refused_cleanly_or_accepted(app, client, *target, body)


@FUZZ
@given(
    title=st.text(min_size=1, max_size=30),
    poison=st.sampled_from(["\x00", "\ud800", "\udfff", "\udbff\u0041"]),
    escaped=st.booleans(),
)
def test_nul_and_lone_surrogates_are_refused_however_they_are_written(
    app, client, target, title, poison, escaped
):
    value = title + poison
    if escaped:
        body = json.dumps({"title": value}).encode()
    else:  # the characters themselves, surrogates as CESU-8 bytes
        body = ('{"title": "' + value.replace('"', "") + '"}').encode("utf-8", "surrogatepass")
    before = row_counts(app)
    response = _send(client, "POST", "/notes", body, target[1])
    assert response.status_code == 400
    assert row_counts(app) == before


# --- the cases a running server showed, kept as they were found ---------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 970 + "]" * 970, id="970 levels"),
        pytest.param('{"a":' * 325 + '"\\u0041"' + "}" * 325, id="325 levels with an escape"),
    ],
)
def test_deep_nesting_is_400_with_one_short_log_line(client, caplog, body):
    caplog.set_level(logging.WARNING, logger="tessera")
    for path in ("/login", "/refresh"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400
        assert "deeper" in response.get_json()["detail"]
    lines = [r for r in caplog.records if r.name == "tessera"]
    assert len(lines) == 2
    assert all(len(r.getMessage()) < 200 and r.exc_info is None for r in lines)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param('{"title": "x"}', "utf-16", id="UTF-16"),
        pytest.param('{"title": "x"}', "utf-32", id="UTF-32"),
        pytest.param('{"title": "\\u0000"}', "utf-16-le", id="escaped NUL in UTF-16"),
    ],
)
def test_a_body_in_another_encoding_is_400_and_makes_no_note(app, client, alice, body, encoding):
    before = row_counts(app)
    response = _send(client, "POST", "/notes", body.encode(encoding), alice.headers)
    assert response.status_code == 400
    assert response.get_json()["detail"] == "The request body is not UTF-8."
    assert row_counts(app) == before


def test_a_raw_lone_surrogate_is_400_not_a_stored_note(app, client, alice):
    before = row_counts(app)
    raw = b'{"title": "a\xed\xa0\x80b"}'  # U+D800 as CESU-8 bytes
    assert _send(client, "POST", "/notes", raw, alice.headers).status_code == 400
    assert row_counts(app) == before


def test_a_body_shorter_than_its_content_length_is_400_and_makes_no_note(app, client, alice):
    before = row_counts(app)
    body = b'{"title": "half"}'
    response = client.post(
        "/notes",
        content_type="application/json",
        headers=alice.headers,
        environ_overrides={"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body) + 40)},
    )
    assert response.status_code == 400
    assert response.get_json()["detail"] == "The request body is shorter than its Content-Length."
    assert row_counts(app) == before


@pytest.mark.parametrize("value", [1, 0, 1.0, "true", "false", None, [], {}])
def test_booleans_are_true_or_false_only(app, client, admin, make_user, value):
    user_id = make_user("bob")
    response = client.patch(f"/users/{user_id}", json={"is_admin": value}, headers=admin.headers)
    assert response.status_code == 422
    assert "is_admin" in response.get_json()["errors"]
    created = client.post(
        "/users",
        json={"username": "carol", "password": "another fine passphrase", "is_admin": value},
        headers=admin.headers,
    )
    assert created.status_code == 422
    listed = client.get("/users", headers=admin.headers).get_json()["items"]
    assert [u["username"] for u in listed if u["is_admin"]] == ["root"]


def test_a_path_with_doubled_slashes_is_404_and_never_a_redirect_to_the_host_sent(client):
    for path in ("/notes//1", "//notes", "/notes/", "/docs/"):
        response = client.get(path, headers={"Host": "attacker.example"})
        assert response.status_code == 404, path
        assert "Location" not in response.headers
        assert "attacker" not in response.get_data(as_text=True)


def test_a_refused_new_password_is_named_as_the_field_the_client_sent(client, alice):
    response = client.post(
        "/password",
        json={"current_password": "correct horse battery staple", "new_password": "short"},
        headers=alice.headers,
    )
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"new_password"}


def test_a_route_without_a_body_never_reads_one(client, alice):
    for path in ("/health", "/me", "/openapi.json"):
        response = client.get(
            path, data=b"\xff\xfe not json", content_type="application/json", headers=alice.headers
        )
        assert response.status_code == 200, path
