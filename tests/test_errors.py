"""Every error is a problem+json document; a crash shows nothing of its insides."""

import pytest


@pytest.fixture
def crashing_app(app):
    @app.get("/crash")
    def crash():
        raise RuntimeError("SELECT password_hash FROM users -- secret detail")

    return app


def _is_problem(response, status):
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
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
    _is_problem(response, 413)


def test_non_json_body_is_415(client, alice):
    response = client.post("/notes", data="title=x", headers=alice.headers)
    _is_problem(response, 415)


def test_debug_console_is_not_served(client):
    _is_problem(client.get("/console"), 404)
