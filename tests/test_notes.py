"""Notes: CRUD for their owner, pagination, and nothing for anyone else."""

import pytest


def _create(client, login, title="a title", body=None):
    payload = {"title": title} if body is None else {"title": title, "body": body}
    response = client.post("/notes", json=payload, headers=login.headers)
    assert response.status_code == 201, response.get_json()
    return response


def test_create_note_returns_it_with_location(client, alice):
    response = _create(client, alice, "groceries", "milk")
    note = response.get_json()
    assert note["title"] == "groceries" and note["body"] == "milk"
    assert set(note) == {"id", "title", "body", "created_at", "updated_at"}
    assert response.headers["Location"] == f"/notes/{note['id']}"
    assert note["created_at"].endswith("+00:00")


def test_body_defaults_to_empty(client, alice):
    assert _create(client, alice).get_json()["body"] == ""


def test_read_patch_and_delete_own_note(clock, client, alice):
    note_id = _create(client, alice, "old").get_json()["id"]
    assert client.get(f"/notes/{note_id}", headers=alice.headers).get_json()["title"] == "old"
    clock.shift(5)
    patched = client.patch(f"/notes/{note_id}", json={"title": "new"}, headers=alice.headers)
    assert patched.status_code == 200
    assert patched.get_json()["title"] == "new"
    assert patched.get_json()["updated_at"] > patched.get_json()["created_at"]
    assert client.delete(f"/notes/{note_id}", headers=alice.headers).status_code == 204
    assert client.get(f"/notes/{note_id}", headers=alice.headers).status_code == 404


def test_list_is_newest_first_and_paginated(clock, client, alice):
    for n in range(5):
        _create(client, alice, f"note {n}")
        clock.shift(1)
    page = client.get("/notes?page=2&per_page=2", headers=alice.headers).get_json()
    assert [item["title"] for item in page["items"]] == ["note 2", "note 1"]
    assert (page["page"], page["per_page"], page["total"]) == (2, 2, 5)


def test_page_past_the_end_is_empty(client, alice):
    _create(client, alice)
    page = client.get("/notes?page=9", headers=alice.headers).get_json()
    assert page["items"] == [] and page["total"] == 1


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "per_page=0", "per_page=101", "page=x", "page=99999999999"]
)
def test_pagination_out_of_bounds_is_422(client, alice, query):
    response = client.get(f"/notes?{query}", headers=alice.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert set(response.get_json()["errors"]) <= {"page", "per_page"}


def test_another_users_note_is_404_for_every_method(client, alice, bob):
    note_id = _create(client, alice).get_json()["id"]
    assert client.get(f"/notes/{note_id}", headers=bob.headers).status_code == 404
    patch = client.patch(f"/notes/{note_id}", json={"title": "mine"}, headers=bob.headers)
    assert patch.status_code == 404
    assert client.delete(f"/notes/{note_id}", headers=bob.headers).status_code == 404
    assert client.get("/notes", headers=bob.headers).get_json()["total"] == 0
    assert client.get(f"/notes/{note_id}", headers=alice.headers).get_json()["title"] == "a title"


@pytest.mark.parametrize("note_id", ["0", "2147483648", "99999999999999999999999", "-1", "x"])
def test_ids_out_of_range_are_404(client, alice, note_id):
    assert client.get(f"/notes/{note_id}", headers=alice.headers).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "body": "x" * 10_001}, "body"),
        ({"title": 5}, "title"),
        ({"title": "ok", "owner_id": 2}, "owner_id"),
        ({"title": "ok", "id": 7}, "id"),
    ],
)
def test_invalid_note_is_422_naming_the_field(client, alice, payload, field):
    response = client.post("/notes", json=payload, headers=alice.headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert client.get("/notes", headers=alice.headers).get_json()["total"] == 0


def test_empty_patch_is_422_and_changes_nothing(client, alice):
    note_id = _create(client, alice, "keep").get_json()["id"]
    response = client.patch(f"/notes/{note_id}", json={}, headers=alice.headers)
    assert response.status_code == 422
    assert client.get(f"/notes/{note_id}", headers=alice.headers).get_json()["title"] == "keep"


def test_malformed_json_is_400_and_creates_nothing(client, alice):
    response = client.post(
        "/notes", data="{title:", content_type="application/json", headers=alice.headers
    )
    assert response.status_code == 400
    assert client.get("/notes", headers=alice.headers).get_json()["total"] == 0


@pytest.mark.parametrize("body", ["[]", "null", '"x"', "3"])
def test_json_that_is_not_an_object_is_400(client, alice, body):
    response = client.post(
        "/notes", data=body, content_type="application/json", headers=alice.headers
    )
    assert response.status_code == 400
    assert response.get_json()["detail"] == "The request body must be a JSON object."


def test_total_stays_exact_under_concurrent_creates_and_deletes(app, client, alice):
    from concurrent.futures import ThreadPoolExecutor

    from api.database import db
    from api.models import Note

    kept = [_create(client, alice, f"kept {n}").get_json()["id"] for n in range(5)]

    def write(n):
        worker = app.test_client()
        if n < 5:
            return worker.delete(f"/notes/{kept[n]}", headers=alice.headers).status_code
        return worker.post("/notes", json={"title": f"new {n}"}, headers=alice.headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(write, range(25)))
    assert statuses.count(204) == 5 and statuses.count(201) == 20
    with app.app_context():
        stored = db.session.scalar(
            db.select(db.func.count()).select_from(Note).where(Note.owner_id == alice.user_id)
        )
    assert stored == 20
    assert client.get("/notes", headers=alice.headers).get_json()["total"] == 20
