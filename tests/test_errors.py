"""Every error is a problem+json document; a crash shows nothing of its insides."""

import pytest

from api import create_app
from api.database import create_schema
from api.errors import PROBLEM_JSON, describe_size
from api.http.openapi import response_name


def test_the_problem_media_type_is_rfc_9457_s():
    assert PROBLEM_JSON == "application/problem+json"


@pytest.fixture
def crashing_app(app):
    @app.get("/crash")
    def crash():
        raise RuntimeError("SELECT password_hash FROM users -- secret detail")

    return app


def _is_problem(response, status):
    assert response.status_code == status
    assert response.content_type == PROBLEM_JSON
    body = response.get_json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"]
    return body


def test_crash_is_a_500_problem_without_a_traceback(crashing_app):
    response = crashing_app.test_client().get("/crash")
    body = _is_problem(response, 500)
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "SELECT" not in text and "secret" not in text
    assert body["detail"] == "The server failed to answer; the error was logged."


def test_unknown_path_is_404(client):
    _is_problem(client.get("/nowhere"), 404)


def test_wrong_method_is_405_with_allow(client):
    response = client.put("/login")
    _is_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_body_over_one_mebibyte_is_413(client, alice):
    big = '{"title": "' + "x" * (1024 * 1024) + '"}'
    response = client.post(
        "/notes", data=big, content_type="application/json", headers=alice.headers
    )
    body = _is_problem(response, 413)
    assert body["detail"] == "The request body is larger than 1 MiB."


@pytest.fixture
def small_limit_app(config, tmp_path):
    """An app whose body limit is set to 64 KiB, as an instance config may set it."""
    app = create_app({**config, "MAX_CONTENT_LENGTH": 64 * 1024}, str(tmp_path / "small"))
    with app.app_context():
        create_schema()
    return app


def test_the_413_and_the_document_name_the_configured_limit(small_limit_app):
    client = small_limit_app.test_client()
    big = '{"username": "' + "x" * (64 * 1024) + '", "password": "p"}'
    response = client.post("/login", data=big, content_type="application/json")
    body = _is_problem(response, 413)
    assert body["detail"] == "The request body is larger than 64 KiB."
    document = client.get("/openapi.json").get_json()
    too_large = document["components"]["responses"][response_name(413)]
    assert too_large["description"] == "The request body is larger than 64 KiB."
    assert list(too_large["content"]) == [PROBLEM_JSON]


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (1024 * 1024, "1 MiB"),
        (3 * 1024 * 1024, "3 MiB"),
        (1536 * 1024, "1536 KiB"),
        (1024, "1 KiB"),
        (1000, "1000 bytes"),
        (1, "1 byte"),
    ],
)
def test_sizes_are_written_in_the_largest_exact_binary_unit(size, text):
    assert describe_size(size) == text


def test_non_json_body_is_415(client, alice):
    response = client.post("/notes", data="title=x", headers=alice.headers)
    _is_problem(response, 415)


def test_debug_console_is_not_served(client):
    _is_problem(client.get("/console"), 404)
