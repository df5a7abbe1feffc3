"""CORS: a browser front end on a named origin may call the API and read every answer.

Preflights are answered for every route of the app, errors carry the headers too (a 401's
``WWW-Authenticate`` and a 429's ``Retry-After`` are readable), an origin not named gets no
``Access-Control-*`` header at all, and no answer ever allows credentials.
"""

from __future__ import annotations

import pytest
from support.routes import example_path, operations

from api import create_app
from api.http.cors import CrossOrigin, allowed_origins, vary_on_origin

FRONT_END = "http://127.0.0.1:5173"
STRANGER = "https://evil.example"
LIMIT = 2


@pytest.fixture
def config(config):
    return {**config, "CORS_ORIGINS": [FRONT_END], "LOGIN_RATE_LIMIT": f"{LIMIT} per minute"}


def _preflight(client, path: str, method: str, origin: str = FRONT_END):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, dpop",
        },
    )


def _cors_headers(response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


def _listed(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


def test_a_preflight_from_the_front_end_is_answered_for_every_operation(app, client):
    checked = 0
    for method, rule, _ in operations(app):
        response = _preflight(client, example_path(rule), method)
        assert response.status_code == 200, (method, rule.rule)
        headers = _cors_headers(response)
        assert headers["Access-Control-Allow-Origin"] == FRONT_END
        assert method.lower() in _listed(headers["Access-Control-Allow-Methods"])
        allowed = _listed(headers["Access-Control-Allow-Headers"])
        assert {"authorization", "content-type", "dpop"} <= allowed
        assert int(headers["Access-Control-Max-Age"]) > 0
        assert "Access-Control-Allow-Credentials" not in headers
        checked += 1
    assert checked >= 20


def test_a_preflight_names_each_method_the_api_uses(app, client):
    methods = {method for method, _, _ in operations(app)}
    response = _preflight(client, "/notes/1", "PATCH")
    assert methods <= {m.upper() for m in _listed(response.headers["Access-Control-Allow-Methods"])}


def test_an_origin_not_named_gets_no_cors_header(client, alice):
    assert _cors_headers(_preflight(client, "/login", "POST", origin=STRANGER)) == {}
    answer = client.get("/me", headers={**alice.headers, "Origin": STRANGER})
    assert answer.status_code == 200
    assert _cors_headers(answer) == {}
    assert _cors_headers(client.get("/health")) == {}


def test_an_origin_is_matched_whole_not_by_prefix_or_suffix(client):
    for origin in (f"{FRONT_END}.evil.example", FRONT_END[:-1], "null", f"{FRONT_END}/"):
        assert _cors_headers(_preflight(client, "/login", "POST", origin=origin)) == {}, origin


def test_an_answer_to_the_front_end_is_readable_with_its_headers(client, alice):
    response = client.get("/me", headers={**alice.headers, "Origin": FRONT_END})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    exposed = _listed(response.headers["Access-Control-Expose-Headers"])
    assert {"www-authenticate", "location", "retry-after", "link"} <= exposed
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_401_problem_carries_the_headers_and_exposes_its_challenge(client):
    response = client.get(
        "/me", headers={"Authorization": "Bearer at.nonsense", "Origin": FRONT_END}
    )
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert "www-authenticate" in _listed(response.headers["Access-Control-Expose-Headers"])
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api"')


def test_a_429_problem_carries_the_headers_and_exposes_retry_after(client, make_user):
    make_user("alice")
    wrong = {"username": "alice", "password": "not the password"}
    for _ in range(LIMIT):
        client.post("/login", json=wrong, headers={"Origin": FRONT_END})
    response = client.post("/login", json=wrong, headers={"Origin": FRONT_END})
    assert response.status_code == 429
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert "retry-after" in _listed(response.headers["Access-Control-Expose-Headers"])
    assert int(response.headers["Retry-After"]) >= 1


def test_a_created_resource_exposes_its_location(client, alice):
    response = client.post(
        "/notes", json={"title": "hi"}, headers={**alice.headers, "Origin": FRONT_END}
    )
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert response.headers["Location"].startswith("/notes/")


def test_every_answer_varies_on_origin_when_cors_is_on(client):
    for headers in ({}, {"Origin": FRONT_END}, {"Origin": STRANGER}):
        vary = client.get("/health", headers=headers).headers["Vary"]
        assert "origin" in _listed(vary), headers


def test_the_security_headers_stay_on_cross_origin_answers(client):
    response = _preflight(client, "/login", "POST")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END


def test_without_cors_origins_no_answer_carries_cors_headers(config, tmp_path):
    del config["CORS_ORIGINS"]
    app = create_app(config, instance_path=str(tmp_path / "no-cors"))
    client = app.test_client()
    preflight = _preflight(client, "/login", "POST")
    assert _cors_headers(preflight) == {}
    assert "Vary" not in preflight.headers
    assert _cors_headers(client.get("/openapi.json", headers={"Origin": FRONT_END})) == {}


def test_allowed_origins_are_compared_in_lower_case():
    assert allowed_origins(["HTTP://App.Example:8080", "https://b.example"]) == {
        "http://app.example:8080",
        "https://b.example",
    }
    assert allowed_origins(None) == frozenset()
    assert allowed_origins([]) == frozenset()


def test_vary_keeps_what_it_named_and_adds_origin_once():
    headers = [("Vary", "Accept-Encoding")]
    vary_on_origin(headers)
    vary_on_origin([("Vary", "Origin")])
    assert headers == [("Vary", "Accept-Encoding, Origin")]
    already = [("Vary", "origin")]
    vary_on_origin(already)
    assert already == [("Vary", "origin")]
    none: list[tuple[str, str]] = []
    vary_on_origin(none)
    assert none == [("Vary", "Origin")]


def test_an_answer_made_outside_flask_is_readable_too(app):
    """The middleware wraps the request deadline's, whose 408 never reaches Flask's handlers."""
    layers = []
    layer = app.wsgi_app
    while layer is not None:
        layers.append(type(layer).__name__)
        layer = getattr(layer, "wsgi_app", None)
    assert layers.index("CrossOrigin") < layers.index("RequestDeadline")

    def too_slow(environ, start_response):
        start_response("408 Request Timeout", [("Content-Type", "application/problem+json")])
        return [b"{}"]

    sent = {}
    middleware = CrossOrigin(too_slow, frozenset({FRONT_END}))
    middleware(
        {"HTTP_ORIGIN": FRONT_END}, lambda status, headers, exc_info=None: sent.update(headers)
    )
    assert sent["Access-Control-Allow-Origin"] == FRONT_END


def test_cors_origins_are_read_from_the_environment(config, tmp_path, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", f"{FRONT_END},https://app.example")
    del config["CORS_ORIGINS"]
    client = create_app(config, instance_path=str(tmp_path / "env")).test_client()
    for origin in (FRONT_END, "https://app.example"):
        response = _preflight(client, "/login", "POST", origin=origin)
        assert response.headers["Access-Control-Allow-Origin"] == origin
    assert _cors_headers(_preflight(client, "/login", "POST", origin=STRANGER)) == {}
