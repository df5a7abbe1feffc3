"""POST /revoke: whoever finds a leaked token ends it, and the answer tells nothing about it."""

from __future__ import annotations

import json
import logging

import pytest

from api.credentials import signed_tokens

NOTHING = b""


def _revoke(client, token, **kwargs):
    return client.post("/revoke", json={"token": token}, **kwargs)


def _works(client, login) -> tuple[int, int]:
    me = client.get("/me", headers=login.headers).status_code
    refresh = client.post("/refresh", json={"refresh_token": login.refresh_token}).status_code
    return me, refresh


def _assert_the_one_answer(response) -> None:
    assert response.status_code == 204
    assert response.get_data() == NOTHING
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_an_access_or_refresh_token_ends_its_session(client, login, alice, which):
    other = login("alice")
    _assert_the_one_answer(_revoke(client, getattr(alice, which)))
    assert client.get("/me", headers=alice.headers).get_json()["detail"] == "session revoked"
    assert client.post("/refresh", json={"refresh_token": alice.refresh_token}).status_code == 401
    assert _works(client, other) == (200, 200)


def test_a_personal_access_token_ends_itself_only(client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    kept = make_token(alice, ["notes:read"])
    _assert_the_one_answer(_revoke(client, pat.token))
    refused = client.get("/notes", headers=pat.headers)
    assert refused.get_json()["detail"] == "token revoked"
    assert client.get("/notes", headers=kept.headers).status_code == 200
    assert client.get("/me", headers=alice.headers).status_code == 200  # the session stays


def _garbage(app, alice) -> dict[str, str]:
    kind, _, signed = alice.access_token.split(".", 2)
    head, signature = alice.access_token.rsplit(".", 1)
    # The signature's first character: its last one holds padding bits a change may not touch.
    forged = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    stranger = signed_tokens.TokenCodec(["another-secret-" * 4], 900, 3600)
    return {
        "empty": "",
        "word": "hello",
        "bearer header": f"Bearer {alice.access_token}",
        "forged": forged,
        "unknown key": f"{kind}.00000000.{signed}",
        "another server's": stranger.issue(
            signed_tokens.ACCESS, signed_tokens.Claims(alice.user_id, "x")
        ),
        "long": "a" * 5000,
        "non-ascii": "t\u00f6k\u00e9n",
        "pattern only": "tsr_pat.00000000.a.b.c",
    }


CASES = [
    "empty",
    "word",
    "bearer header",
    "forged",
    "unknown key",
    "another server's",
    "long",
    "non-ascii",
    "pattern only",
]


@pytest.mark.parametrize("case", CASES)
def test_anything_else_gets_the_same_answer_and_ends_nothing(app, client, alice, case):
    _assert_the_one_answer(_revoke(client, _garbage(app, alice)[case]))
    assert _works(client, alice) == (200, 200)


def test_valid_ended_and_garbage_tokens_get_byte_identical_answers(client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    answers = [
        _revoke(client, "garbage"),
        _revoke(client, pat.token),
        _revoke(client, pat.token),  # already ended
        _revoke(client, alice.access_token),
        _revoke(client, alice.refresh_token),  # its session already ended
    ]

    def shape(response):
        headers = sorted((k, v) for k, v in response.headers.items() if k.lower() != "date")
        return response.status_code, tuple(headers), response.get_data()

    assert len({shape(r) for r in answers}) == 1


def test_an_expired_token_ends_nothing(clock, client, login, alice):
    fresh = login("alice")
    clock.shift(901)  # alice's access token expired; her session lives on
    _assert_the_one_answer(_revoke(client, alice.access_token))
    assert client.post("/refresh", json={"refresh_token": alice.refresh_token}).status_code == 200
    assert client.post("/refresh", json={"refresh_token": fresh.refresh_token}).status_code == 200


def test_no_credentials_are_needed_and_a_bearer_header_changes_nothing(client, alice, bob):
    _assert_the_one_answer(_revoke(client, bob.access_token, headers=alice.headers))
    assert client.get("/me", headers=bob.headers).status_code == 401
    assert client.get("/me", headers=alice.headers).status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "token=x", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"json": ["a list"]}, 400),
        ({"json": {}}, 422),
        ({"json": {"token": 42}}, 422),
        ({"json": {"token": None}}, 422),
        ({"json": {"token": "x", "reason": "leaked"}}, 422),
    ],
)
def test_a_body_that_breaks_the_conventions_is_refused_as_anywhere(client, alice, kwargs, status):
    response = client.post("/revoke", **kwargs)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert _works(client, alice) == (200, 200)


def test_garbage_costs_no_statement(client, alice, queries):
    queries.clear()
    _assert_the_one_answer(_revoke(client, "at.00000000.abc.def.ghi"))
    assert queries == []


def test_each_revocation_is_audited_with_its_kind_and_outcome_never_the_token(
    client, caplog, login, alice, make_token
):
    caplog.set_level(logging.INFO, logger="tessera.audit")
    pat = make_token(alice, ["notes:read"])
    refresh_holder = login("alice")
    sent = ["garbage", alice.access_token, refresh_holder.refresh_token, pat.token, pat.token]
    for token in sent:
        _revoke(client, token)
    lines = [r.getMessage() for r in caplog.records if r.name == "tessera.audit"]
    events = [json.loads(line) for line in lines if '"token_revoked"' in line]
    # A token that verifies as nothing names no one: it writes no event (anyone may send any
    # number of them, and each would be a row of the audit trail).
    assert [(e["kind"], e["outcome"]) for e in events] == [
        ("access", "success"),
        ("refresh", "success"),
        ("personal", "success"),
        ("personal", "ignored"),
    ]
    assert events[2]["token_id"] == pat.id and events[2]["user_id"] == alice.user_id
    assert events[0]["session_id"] and events[0]["session_id"] != events[1]["session_id"]
    for token in sent[1:]:
        assert not any(token.rsplit(".", 1)[1] in line for line in lines)


def test_the_document_shows_revoke_as_public(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/revoke"]["post"]
    assert not operation.get("security")
    assert set(operation["responses"]) == {"204", "400", "413", "415", "422"}
