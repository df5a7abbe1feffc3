"""Personal access tokens: made at POST /tokens, scoped, expiring, never stored, and ended by
their owner, an admin's change to the user, the CLI or their own expiry.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import pytest
import sqlalchemy as sa

from api import create_app
from api.credentials import signed_tokens
from api.database import db
from api.models import PersonalToken, User

DAY = 24 * 3600
PAT_FIELDS = {"id", "name", "scopes", "created_at", "expires_at", "last_used_at", "dpop_bound"}
TOKEN_COLUMNS = [
    "id",
    "user",
    "name",
    "scopes",
    "expires_at",
    "last_used_at",
    "dpop_bound",
    "key_id",
]
FRESH_CHALLENGE = (
    'Bearer realm="api", error="insufficient_user_authentication", '
    'error_description="a more recent login is required", max_age=600'
)


def _create(client, owner, **body):
    return client.post(
        "/tokens", json={"name": "ci", "scopes": ["notes:read"], **body}, headers=owner.headers
    )


def _rows(app) -> list[PersonalToken]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(PersonalToken).order_by(PersonalToken.id)))
        db.session.expunge_all()
        return rows


def _detail(response) -> str | None:
    return response.get_json().get("detail") if response.status_code >= 400 else None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- making one ----------------------------------------------------------------------------


def test_a_new_token_is_shown_once_with_its_record_and_location(clock, client, alice):
    response = _create(client, alice, name="backup script", scopes=["notes:write", "notes:read"])
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == PAT_FIELDS | {"token"}
    assert body["name"] == "backup script"
    assert body["scopes"] == ["notes:read", "notes:write"]
    assert body["last_used_at"] is None
    assert (_when(body["expires_at"]) - _when(body["created_at"])).total_seconds() == pytest.approx(
        30 * DAY, abs=1
    )
    assert response.headers["Location"].endswith(f"/tokens/{body['id']}")
    assert response.headers["Cache-Control"] == "no-store"
    assert signed_tokens.PERSONAL_TOKEN_PATTERN.fullmatch(body["token"])
    assert body["token"].startswith("tsr_pat.")
    shown = client.get(response.headers["Location"], headers=alice.headers).get_json()
    assert shown == {k: v for k, v in body.items() if k != "token"}


def test_the_token_works_as_a_bearer_token_within_its_scopes(client, alice, make_token):
    pat = make_token(alice, ["notes:read", "notes:write"])
    created = client.post("/notes", json={"title": "from a script"}, headers=pat.headers)
    assert created.status_code == 201
    listed = client.get("/notes", headers=pat.headers).get_json()
    assert [note["title"] for note in listed["items"]] == ["from a script"]
    assert client.get("/notes", headers=alice.headers).get_json()["total"] == 1  # alice's own


def test_expires_in_sets_the_lifetime(clock, client, alice):
    body = _create(client, alice, expires_in=3600).get_json()
    lifetime = _when(body["expires_at"]) - _when(body["created_at"])
    assert lifetime.total_seconds() == pytest.approx(3600, abs=1)
    longest = _create(client, alice, expires_in=365 * DAY)
    assert longest.status_code == 201


def test_an_admin_may_give_a_token_the_users_scopes(client, admin, make_token):
    pat = make_token(admin, ["users:read"])
    assert client.get("/users", headers=pat.headers).status_code == 200
    assert client.get("/notes", headers=pat.headers).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["notes:delete"]}, "scopes"),
        ({"scopes": ["account"]}, "scopes"),
        ({"scopes": ["mfa:enroll"]}, "scopes"),
        ({"scopes": ["notes:read", "account"]}, "scopes"),
        ({"scopes": ["users:read"]}, "scopes"),  # alice is no admin
        ({"scopes": ["notes:read", "users:write"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": "notes:read"}, "scopes"),
        ({"scopes": None}, "scopes"),
        ({"scopes": [1]}, "scopes"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 7}, "name"),
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": -60}, "expires_in"),
        ({"expires_in": 365 * DAY + 1}, "expires_in"),
        ({"expires_in": "3600"}, "expires_in"),
        ({"expires_in": 3600.0}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_in": None}, "expires_in"),
        ({"token": "mine"}, "token"),
        ({"user_id": 1}, "user_id"),
    ],
)
def test_bad_input_is_422_with_field_errors_and_makes_nothing(app, client, alice, body, field):
    response = _create(client, alice, **body)
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    assert field in response.get_json()["errors"]
    assert _rows(app) == []


@pytest.mark.parametrize("missing", ["name", "scopes"])
def test_name_and_scopes_are_required(app, client, alice, missing):
    body = {"name": "ci", "scopes": ["notes:read"]}
    del body[missing]
    response = client.post("/tokens", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert missing in response.get_json()["errors"]
    assert _rows(app) == []


def test_the_lifetime_limits_follow_the_configuration(config, tmp_path, alice):
    # Another app on the same database and key: alice's login is good there too.
    config.update(PERSONAL_TOKEN_DEFAULT_AGE=600, PERSONAL_TOKEN_MAX_AGE=3600)
    app = create_app(config, instance_path=str(tmp_path / "short"))
    client = app.test_client()
    headers = alice.headers
    made = client.post("/tokens", json={"name": "a", "scopes": ["notes:read"]}, headers=headers)
    lifetime = _when(made.get_json()["expires_at"]) - _when(made.get_json()["created_at"])
    assert lifetime.total_seconds() == pytest.approx(600, abs=1)
    body = {"name": "a", "scopes": ["notes:read"], "expires_in": 3601}
    too_long = client.post("/tokens", json=body, headers=headers)
    assert too_long.status_code == 422
    assert "expires_in" in too_long.get_json()["errors"]
    document = client.get("/openapi.json").get_json()
    lifetime_schema = document["components"]["schemas"]["NewPersonalToken"]["properties"]
    assert lifetime_schema["expires_in"]["maximum"] == 3600
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PERSONAL_TOKEN_MAX_AGE", 0),
        ("PERSONAL_TOKEN_DEFAULT_AGE", 400 * DAY),
        ("REAUTH_MAX_AGE", 0),
    ],
)
def test_impossible_lifetimes_stop_the_start(config, tmp_path, name, value):
    with pytest.raises(RuntimeError, match=name):
        create_app({**config, name: value}, instance_path=str(tmp_path / "bad"))


def test_the_defaults_are_the_contracts(app):
    assert app.config["PERSONAL_TOKEN_DEFAULT_AGE"] == 30 * DAY
    assert app.config["PERSONAL_TOKEN_MAX_AGE"] == 365 * DAY
    assert app.config["REAUTH_MAX_AGE"] == 600


# --- a fresh login -------------------------------------------------------------------------


def test_making_a_token_needs_a_login_at_most_reauth_max_age_old(clock, app, client, alice):
    clock.shift(600)
    assert _create(client, alice).status_code == 201
    clock.shift(1)
    response = _create(client, alice)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == FRESH_CHALLENGE
    assert _detail(response) == "a more recent login is required"
    assert len(_rows(app)) == 1
    assert client.get("/tokens", headers=alice.headers).status_code == 200  # not fresh: fine


def test_a_refresh_does_not_make_a_login_fresh_and_a_new_login_does(clock, client, alice, login):
    clock.shift(601)
    pair = client.post("/refresh", json={"refresh_token": alice.refresh_token}).get_json()
    refreshed = {"Authorization": f"Bearer {pair['access_token']}"}
    body = {"name": "ci", "scopes": ["notes:read"]}
    assert client.post("/tokens", json=body, headers=refreshed).status_code == 401
    assert _create(client, login("alice")).status_code == 201


def test_the_fresh_window_follows_the_configuration(clock, app, client, alice):
    app.config["REAUTH_MAX_AGE"] = 60
    clock.shift(61)
    response = _create(client, alice)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].endswith("max_age=60")


# --- listing, reading, deleting -------------------------------------------------------------


def test_list_shows_live_tokens_only_newest_first_and_never_a_token(
    clock, client, alice, make_token
):
    first = make_token(alice, ["notes:read"], name="first", expires_in=60)
    clock.shift(1)
    second = make_token(alice, ["notes:read"], name="second")
    clock.shift(1)
    third = make_token(alice, ["notes:write"], name="third")
    assert client.delete(f"/tokens/{third.id}", headers=alice.headers).status_code == 204
    response = client.get("/tokens", headers=alice.headers)
    body = response.get_json()
    assert [item["name"] for item in body["items"]] == ["second", "first"]
    assert set(body["items"][0]) == PAT_FIELDS
    for pat in (first, second, third):
        assert pat.token not in response.get_data(as_text=True)
    clock.shift(60)  # the first has expired
    assert client.get("/tokens", headers=alice.headers).get_json()["total"] == 1
    assert client.get(f"/tokens/{first.id}", headers=alice.headers).status_code == 404


def test_list_is_paginated(clock, client, alice, make_token):
    for n in range(3):
        clock.shift(1)
        make_token(alice, ["notes:read"], name=f"t{n}")
    body = client.get("/tokens?page=2&per_page=2", headers=alice.headers).get_json()
    assert (body["page"], body["per_page"], body["total"]) == (2, 2, 3)
    assert [item["name"] for item in body["items"]] == ["t0"]


def test_another_users_token_is_404_to_read_and_to_delete(client, alice, bob, make_token):
    pat = make_token(bob, ["notes:read"])
    assert client.get(f"/tokens/{pat.id}", headers=alice.headers).status_code == 404
    assert client.delete(f"/tokens/{pat.id}", headers=alice.headers).status_code == 404
    assert client.get("/tokens", headers=alice.headers).get_json()["total"] == 0
    assert client.get("/notes", headers=pat.headers).status_code == 200


def test_a_deleted_token_stops_working_at_once(client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    response = client.delete(f"/tokens/{pat.id}", headers=alice.headers)
    assert response.status_code == 204 and response.get_data() == b""
    refused = client.get("/notes", headers=pat.headers)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_token", error_description="token revoked"'
    )
    assert client.delete(f"/tokens/{pat.id}", headers=alice.headers).status_code == 404


def test_the_database_never_holds_a_token(app, client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    client.get("/notes", headers=pat.headers)
    with app.app_context():
        dump = repr(db.session.execute(sa.select(PersonalToken.__table__)).all())
    signature = pat.token.rsplit(".", 1)[1]
    assert signature not in dump and pat.token not in dump


def test_a_token_carries_opaque_ids_only(app, client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    with app.app_context():
        claims = signed_tokens.codec().verify(signed_tokens.PERSONAL, pat.token)
    assert (claims.user_id, claims.token_id) == (alice.user_id, pat.id)
    payload = pat.token.split(".")[2]
    assert "notes" not in payload and "alice" not in payload


# --- expiry and refusals before the database -------------------------------------------------


def test_a_token_expires_at_its_own_expiry(clock, client, alice, make_token):
    pat = make_token(alice, ["notes:read"], expires_in=120)
    clock.shift(119)
    assert client.get("/notes", headers=pat.headers).status_code == 200
    clock.shift(1)
    refused = client.get("/notes", headers=pat.headers)
    assert refused.status_code == 401
    assert _detail(refused) == "token expired"


def _forged(pat) -> str:
    head, signature = pat.token.rsplit(".", 1)
    return f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def test_forged_relabelled_and_misplaced_tokens_are_refused(clock, app, client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    cases = {
        "invalid signature": _forged(pat),
        "unknown signing key": "tsr_pat.00000000." + pat.token.split(".", 2)[2],
    }
    relabelled = "tsr_pat." + alice.access_token.split(".", 1)[1]
    cases["invalid signature "] = relabelled
    for reason, token in cases.items():
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert _detail(response) == reason.strip(), reason
    at_refresh = client.post("/refresh", json={"refresh_token": pat.token})
    assert _detail(at_refresh) == "wrong token type"
    with app.app_context():
        stranger = signed_tokens.TokenCodec(["another-secret-" * 4], 900, 3600)
        made = stranger.issue(
            signed_tokens.PERSONAL,
            signed_tokens.PersonalClaims(alice.user_id, pat.id, 2**40, signed_tokens.new_nonce()),
        )
    assert _detail(client.get("/me", headers={"Authorization": f"Bearer {made}"})) == (
        "unknown signing key"
    )


def test_an_expiry_past_the_longest_lifetime_is_refused_even_when_signed(clock, app, client, alice):
    with app.app_context():
        claims = signed_tokens.PersonalClaims(alice.user_id, 1, 2**40, signed_tokens.new_nonce())
        long_lived = signed_tokens.codec().issue(signed_tokens.PERSONAL, claims)
    clock.shift(365 * DAY + 1)  # itsdangerous's max_age: no PAT lives longer than the maximum
    response = client.get("/me", headers={"Authorization": f"Bearer {long_lived}"})
    assert _detail(response) == "token expired"


# --- what ends a token and what does not ----------------------------------------------------


def _works(client, pat) -> int:
    return client.get("/notes", headers=pat.headers).status_code


def test_logout_ending_sessions_and_a_password_change_leave_tokens_alone(
    client, make_user, login, make_token
):
    make_user("carol", "carol's own passphrase")
    carol = login("carol", "carol's own passphrase")
    pat = make_token(carol, ["notes:read"])
    assert client.post("/logout", headers=carol.headers).status_code == 204
    assert _works(client, pat) == 200
    other = login("carol", "carol's own passphrase")
    body = {"current_password": "carol's own passphrase", "new_password": "a whole new one"}
    assert client.post("/password", json=body, headers=other.headers).status_code == 204
    assert _works(client, pat) == 200
    assert client.delete("/sessions", headers=other.headers).status_code == 204
    assert _works(client, pat) == 200


def test_an_admin_setting_the_password_leaves_tokens_alone(client, admin, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    body = {"password": "a whole new passphrase"}
    assert (
        client.patch(f"/users/{alice.user_id}", json=body, headers=admin.headers).status_code == 200
    )
    assert _works(client, pat) == 200


def test_deactivation_ends_the_users_tokens_for_good(app, client, admin, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    url = f"/users/{alice.user_id}"
    assert client.patch(url, json={"is_active": False}, headers=admin.headers).status_code == 200
    assert _works(client, pat) == 401
    assert client.patch(url, json={"is_active": True}, headers=admin.headers).status_code == 200
    refused = client.get("/notes", headers=pat.headers)
    assert _detail(refused) == "token revoked"
    assert all(row.revoked_at is not None for row in _rows(app))


def test_a_deactivated_users_token_is_refused_even_before_it_is_revoked(
    app, client, alice, make_token
):
    pat = make_token(alice, ["notes:read"])
    with app.app_context():
        db.session.get(User, alice.user_id).is_active = False  # behind the service's back
        db.session.commit()
    assert _detail(client.get("/notes", headers=pat.headers)) == "user deactivated"


def test_deleting_the_user_deletes_their_tokens(app, client, admin, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    assert client.delete(f"/users/{alice.user_id}", headers=admin.headers).status_code == 204
    assert _rows(app) == []
    assert _detail(client.get("/notes", headers=pat.headers)) == "token not found"


def test_users_revoke_ends_sessions_and_tokens(client, cli, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    result = cli("users", "revoke", "alice")
    assert result.exit_code == 0
    assert result.output.strip() == "1 session(s) and 1 personal access token(s) ended"
    assert _works(client, pat) == 401
    assert client.get("/me", headers=alice.headers).status_code == 401


def test_a_demoted_admins_token_loses_the_users_scopes_and_keeps_the_others(
    client, cli, make_user, admin, make_token
):
    make_user("deputy", is_admin=True)
    pat = make_token(admin, ["users:read", "notes:read"])
    assert client.get("/users", headers=pat.headers).status_code == 200
    assert cli("users", "demote", "root").exit_code == 0
    refused = client.get("/users", headers=pat.headers)
    assert refused.status_code == 403
    assert 'scope="users:read"' in refused.headers["WWW-Authenticate"]
    assert client.get("/me", headers=pat.headers).get_json()["scopes"] == ["notes:read"]
    assert _works(client, pat) == 200
    # The record keeps what the token was made with: promoted again, the admin has it back.
    assert cli("users", "promote", "root").exit_code == 0
    assert client.get("/users", headers=pat.headers).status_code == 200


# --- last use and what a request costs -------------------------------------------------------


def test_last_used_at_is_kept_to_the_minute_at_most(clock, app, client, alice, make_token, queries):
    pat = make_token(alice, ["notes:read"])
    statements = []
    for seconds in (0, 30, 29, 1, 30):  # 0, 30, 59, 60 and 90 seconds after it was made
        clock.shift(seconds)
        queries.clear()
        assert client.get("/me", headers=pat.headers).status_code == 200
        statements.append(len(queries))
    assert statements == [2, 1, 1, 2, 1]  # the first use is written, then once a minute
    record = client.get(f"/tokens/{pat.id}", headers=alice.headers).get_json()
    assert (_when(record["last_used_at"]) - _when(record["created_at"])).total_seconds() == 60


def test_me_with_a_token_costs_one_statement_as_with_a_session(
    clock, client, alice, make_token, queries
):
    pat = make_token(alice, ["notes:read"])
    client.get("/me", headers=pat.headers)  # the first use writes last_used_at
    counts = {}
    for name, headers in (("session", alice.headers), ("pat", pat.headers)):
        queries.clear()
        assert client.get("/me", headers=headers).status_code == 200
        counts[name] = len(queries)
    assert counts == {"session": 1, "pat": 1}
    assert "join users" in queries[0].lower() or "join personal_tokens" in queries[0].lower()


def test_a_forged_or_expired_token_costs_no_statement(clock, client, alice, make_token, queries):
    pat = make_token(alice, ["notes:read"], expires_in=60)
    queries.clear()
    assert client.get("/me", headers={"Authorization": f"Bearer {_forged(pat)}"}).status_code == 401
    assert queries == []
    clock.shift(60)
    assert _detail(client.get("/me", headers=pat.headers)) == "token expired"
    assert queries == []


# --- the CLI --------------------------------------------------------------------------------


def test_tokens_list_shows_every_live_token_and_no_secret(cli, admin, alice, make_token):
    mine = make_token(alice, ["notes:read", "notes:write"], name="alice's")
    theirs = make_token(admin, ["users:read"], name="root's")
    table = cli("tokens", "list")
    assert table.exit_code == 0
    lines = table.output.strip().splitlines()
    assert lines[0].split() == TOKEN_COLUMNS
    assert len(lines) == 3
    assert "notes:read,notes:write" in lines[1] and "alice" in lines[1]
    listed = cli("tokens", "list", "alice", "--json")
    records = [json.loads(line) for line in listed.output.splitlines()]
    assert [r["id"] for r in records] == [mine.id]
    assert list(records[0]) == TOKEN_COLUMNS
    assert records[0]["scopes"] == ["notes:read", "notes:write"]
    for pat in (mine, theirs):
        assert pat.token not in table.output + listed.output
        assert pat.token.rsplit(".", 1)[1] not in table.output + listed.output


def test_tokens_revoke_ends_one_token(client, cli, alice, make_token):
    kept = make_token(alice, ["notes:read"], name="kept")
    ended = make_token(alice, ["notes:read"], name="ended")
    result = cli("tokens", "revoke", str(ended.id))
    assert result.exit_code == 0
    assert result.output.strip() == f"personal access token {ended.id} ('ended') ended"
    assert _works(client, ended) == 401
    assert _works(client, kept) == 200
    assert [r for r in cli("tokens", "list", "--json").output.splitlines()] != []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tokens", "revoke", "999"), "no such personal access token"),
        (("tokens", "revoke", "abc"), "no such personal access token"),
        (("tokens", "revoke", "0"), "no such personal access token"),
        (("tokens", "revoke", "99999999999"), "no such personal access token"),
        (("tokens", "list", "nobody"), "no user named 'nobody'"),
    ],
)
def test_token_commands_fail_cleanly(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {message}"
    assert "Traceback" not in result.output


def test_revoking_an_ended_token_again_fails_cleanly(cli, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    assert cli("tokens", "revoke", str(pat.id)).exit_code == 0
    again = cli("tokens", "revoke", str(pat.id))
    assert again.exit_code == 1
    assert again.stderr.strip() == "error: no such personal access token"


# --- the audit log --------------------------------------------------------------------------


def test_making_and_ending_tokens_is_audited_without_the_token(
    client, cli, caplog, alice, make_token
):
    caplog.set_level(logging.INFO, logger="tessera.audit")
    first = make_token(alice, ["notes:read"], name="ci")
    second = make_token(alice, ["notes:write"])
    client.delete(f"/tokens/{first.id}", headers=alice.headers)
    cli("tokens", "revoke", str(second.id))
    lines = [r.getMessage() for r in caplog.records if r.name == "tessera.audit"]
    events = [json.loads(line) for line in lines]
    created = [e for e in events if e["event"] == "personal_token_created"]
    revoked = [e for e in events if e["event"] == "personal_token_revoked"]
    assert [e["token_id"] for e in created] == [first.id, second.id]
    assert created[0]["scopes"] == ["notes:read"] and created[0]["user_id"] == alice.user_id
    assert created[0]["name"] == "ci"
    assert [(e["token_id"], e["client"]) for e in revoked] == [
        (first.id, "127.0.0.1"),
        (second.id, "cli"),
    ]
    for pat in (first, second):
        assert not any(pat.token.rsplit(".", 1)[1] in line for line in lines)
