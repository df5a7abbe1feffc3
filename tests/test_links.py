"""Every list links its other pages in an RFC 8288 ``Link`` header, built from the app alone.

The lists are read from the app's own document (every operation that answers a page), never
from a hand-kept list; each is walked page by page through its ``next`` links.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from support.authenticator import Authenticator, register_passkey
from support.routes import route_map_app

from api import create_app
from api.database import db
from api.http.pagination import MAX_PAGE, page_numbers

_LINK = re.compile(r'<([^>]*)>; rel="([a-z]+)"')
PAGE_FIELDS = {"items", "page", "per_page", "total"}


def list_paths() -> list[str]:
    """Return the path of every operation that answers a page, read from the document."""
    api = route_map_app().extensions["tessera.api"]
    document = api.spec.to_dict()
    schemas = document["components"]["schemas"]
    paths = []
    for path, item in document["paths"].items():
        answer = item.get("get", {}).get("responses", {}).get("200", {})
        ref = answer.get("content", {}).get("application/json", {}).get("schema", {})
        name = ref.get("$ref", "").rpartition("/")[2]
        if set(schemas.get(name, {}).get("properties", {})) == PAGE_FIELDS:
            paths.append(path)
    return paths


LISTS = list_paths()


def links(response) -> dict[str, str]:
    """Return the answer's links by relation."""
    header = response.headers.get("Link", "")
    found = {rel: url for url, rel in _LINK.findall(header)}
    assert header == ", ".join(f'<{url}>; rel="{rel}"' for rel, url in found.items()), header
    return found


def page_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["page"][0])


@pytest.fixture
def busy_admin(client, admin, make_user, login, make_token):
    """An admin with two of everything that lists: sessions, notes, PATs, users, events."""
    make_user("alice")
    login("root")
    for title in ("one", "two"):
        created = client.post("/notes", json={"title": title}, headers=admin.headers)
        assert created.status_code == 201
    make_token(admin, ["notes:read"], name="first")
    make_token(admin, ["notes:read"], name="second")
    for _ in range(2):
        assert register_passkey(client, admin, Authenticator()).status_code == 201
    return admin


def test_the_lists_are_found_in_the_document():
    assert {"/notes", "/users", "/sessions", "/tokens", "/events", "/audit"} <= set(LISTS)


@pytest.mark.parametrize("path", LISTS)
def test_every_list_is_walked_through_its_next_links(client, busy_admin, path):
    response = client.get(f"{path}?per_page=1", headers=busy_admin.headers)
    total = response.get_json()["total"]
    assert total >= 2
    assert links(response)["first"] == f"{path}?page=1&per_page=1"
    assert links(response)["last"] == f"{path}?page={total}&per_page=1"
    assert "prev" not in links(response)
    seen = []
    while True:
        assert response.status_code == 200
        seen += [item["id"] for item in response.get_json()["items"]]
        if "next" not in links(response):
            break
        response = client.get(links(response)["next"], headers=busy_admin.headers)
        assert page_of(links(response)["prev"]) == response.get_json()["page"] - 1
    assert len(seen) == len(set(seen)) == total


@pytest.mark.parametrize("path", LISTS)
def test_every_list_answer_documents_its_link_header(path):
    document = route_map_app().extensions["tessera.api"].spec.to_dict()
    headers = document["paths"][path]["get"]["responses"]["200"]["headers"]
    assert "RFC 8288" in headers["Link"]["description"]


def test_a_filter_stays_in_every_link(client, busy_admin):
    response = client.get("/audit?event=login&per_page=1", headers=busy_admin.headers)
    assert response.get_json()["total"] >= 2
    for url in links(response).values():
        query = parse_qs(urlsplit(url).query)
        assert query["event"] == ["login"]
        assert query["per_page"] == ["1"]


def test_a_time_filter_is_escaped_in_the_links(client, busy_admin):
    since = "2000-01-01T00:00:00+00:00"
    response = client.get(
        "/audit", query_string={"since": since, "per_page": 1}, headers=busy_admin.headers
    )
    following = client.get(links(response)["next"], headers=busy_admin.headers)
    assert following.status_code == 200
    assert parse_qs(urlsplit(links(response)["next"]).query)["since"] == [since]


def test_links_never_name_the_host_the_client_sent(client, busy_admin):
    response = client.get(
        "/notes?per_page=1",
        headers={**busy_admin.headers, "Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 200
    for url in links(response).values():
        assert url.startswith("/notes?"), url
    assert "evil" not in response.headers["Link"]


def test_a_page_past_the_end_links_back_to_the_last(client, busy_admin):
    response = client.get("/notes?page=9&per_page=1", headers=busy_admin.headers)
    assert response.get_json()["items"] == []
    assert links(response) == {
        "prev": "/notes?page=2&per_page=1",
        "first": "/notes?page=1&per_page=1",
        "last": "/notes?page=2&per_page=1",
    }


def test_an_empty_list_links_only_its_one_page(client, alice):
    response = client.get("/notes", headers=alice.headers)
    assert links(response) == {
        "first": "/notes?page=1&per_page=20",
        "last": "/notes?page=1&per_page=20",
    }


def test_the_last_page_is_never_past_the_largest_page_asked_for():
    assert page_numbers(1, 1, 10 * MAX_PAGE)["last"] == MAX_PAGE
    assert page_numbers(MAX_PAGE, 1, 10 * MAX_PAGE).keys() == {"prev", "first", "last"}
    assert page_numbers(2, 20, 41) == {"next": 3, "prev": 1, "first": 1, "last": 3}


def test_a_query_string_token_is_never_copied_into_a_link(config, tmp_path, alice):
    app = create_app({**config, "TOKEN_QUERY_PARAM": "access_token"}, str(tmp_path / "qs"))
    client = app.test_client()
    response = client.get(f"/notes?access_token={alice.access_token}")
    assert response.status_code == 200
    assert "access_token" not in response.headers["Link"]
    assert alice.access_token not in response.headers["Link"]
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
