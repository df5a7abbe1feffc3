"""A deleted row stays deleted: its id never comes back, its tokens never speak for anyone, and a
request whose user is deleted under it answers a clean 401 or 404 with nothing half-written.

Issue 22: on SQLite a new user took a deleted newest user's id, and their next PAT the old PAT's
id, so the old PAT answered as the new user; writes racing a delete answered 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.accounts import PASSWORD
from support.forged_tokens import signed_with_the_real_key

from api import create_app
from api.credentials import signed_tokens
from api.database import create_schema, db
from api.models import MAX_ID, AuditEvent, Note, PersonalToken, User, utcnow
from api.origin import CLI
from api.services import accounts, notes

AUTOINCREMENT_TABLES = ("users", "personal_tokens", "notes", "audit_events")
FUTURE = int(time.time()) + 10 * 365 * 24 * 3600
# Claims no server makes: past an INTEGER column either way, or of another JSON type.
OUT_OF_RANGE = [0, -1, MAX_ID + 1, 2**63, 2**64, True, 1.0, "1", None, [1], {"a": 1}]
# Not what ``secrets.token_urlsafe`` makes: a NUL or a lone surrogate no column takes.
RANDOM_ID_FORMS = ["", "a" * 44, "\x00", "\ud800", "a b", "é", 1, None, ["x"]]


def _refusal(response) -> str:
    assert response.status_code == 401, response.get_json()
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    return response.get_json()["detail"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ids(response) -> set[int]:
    return {item["id"] for item in response.get_json()["items"]}


def _delete_user(client, admin, user_id: int) -> None:
    assert client.delete(f"/users/{user_id}", headers=admin.headers).status_code == 204


# --- the scenario: a deleted user's PAT and a later user --------------------------------


def test_a_deleted_users_pat_never_speaks_for_the_next_user(
    client, admin, make_user, login, make_token
):
    make_user("alice")
    alice = login("alice")
    old_pat = make_token(alice, ["notes:read", "notes:write"])
    client.post("/notes", json={"title": "alice's"}, headers=alice.headers)
    alices_events = _ids(client.get("/events?per_page=100", headers=alice.headers))
    _delete_user(client, admin, alice.user_id)  # the newest user

    make_user("carol")
    carol = login("carol")
    new_pat = make_token(carol, ["notes:read"])
    client.post("/notes", json={"title": "carol's private note"}, headers=carol.headers)

    assert carol.user_id > alice.user_id
    assert new_pat.id > old_pat.id
    assert _refusal(client.get("/me", headers=old_pat.headers)) == "token not found"
    assert client.get("/notes", headers=old_pat.headers).status_code == 401
    assert client.get("/me", headers=new_pat.headers).get_json()["username"] == "carol"
    carols_events = _ids(client.get("/events?per_page=100", headers=carol.headers))
    assert carols_events and carols_events.isdisjoint(alices_events)
    audit = client.get(f"/audit?user_id={carol.user_id}&per_page=100", headers=admin.headers)
    assert _ids(audit) == carols_events
    assert not any(e.get("fields", {}).get("username") == "alice" for e in audit.json["items"])


def test_no_id_comes_back_after_the_newest_row_is_deleted(
    app, client, admin, make_user, login, make_token
):
    make_user("alice")
    alice = login("alice")
    first_pat = make_token(alice, ["notes:read"])
    first_note = client.post("/notes", json={"title": "one"}, headers=alice.headers).json["id"]
    assert client.delete(f"/tokens/{first_pat.id}", headers=alice.headers).status_code == 204
    assert client.delete(f"/notes/{first_note}", headers=alice.headers).status_code == 204
    with app.app_context():
        newest_event = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
        # No endpoint deletes the newest event (pruning writes one): a restore or a hand edit.
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == newest_event))
        db.session.commit()
    _delete_user(client, admin, alice.user_id)

    make_user("bob")
    bob = login("bob")
    assert bob.user_id > alice.user_id
    assert make_token(bob, ["notes:read"]).id > first_pat.id
    assert client.post("/notes", json={"title": "two"}, headers=bob.headers).json["id"] > (
        first_note
    )
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.min(AuditEvent.id)).where(AuditEvent.id >= newest_event)
            )
            > newest_event
        )


# --- a PAT is bound to its row ------------------------------------------------------------------


def test_a_pat_whose_row_has_another_nonce_is_refused(app, client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    assert client.get("/me", headers=pat.headers).status_code == 200
    with app.app_context():
        db.session.execute(
            sa.update(PersonalToken)
            .where(PersonalToken.id == pat.id)
            .values(nonce=signed_tokens.new_nonce())
        )
        db.session.commit()
    assert _refusal(client.get("/me", headers=pat.headers)) == "token not found"


def test_a_pat_of_another_nonce_revokes_nothing(app, config, client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    claims = {"uid": alice.user_id, "tid": pat.id, "exp": FUTURE, "nonce": "not-the-rows"}
    stranger = signed_with_the_real_key(config["SECRET_KEY"], signed_tokens.PERSONAL, claims)
    assert client.post("/revoke", json={"token": stranger}).status_code == 204
    assert client.get("/me", headers=pat.headers).status_code == 200


def test_a_pat_made_before_tokens_named_their_nonce_is_refused(
    app, config, client, alice, make_token
):
    pat = make_token(alice, ["notes:read"])
    with app.app_context():
        db.session.execute(
            sa.update(PersonalToken).where(PersonalToken.id == pat.id).values(nonce=None)
        )
        db.session.commit()
    # What a release before 0006 signed: the user, the row, the expiry; no nonce.
    outdated = signed_with_the_real_key(
        config["SECRET_KEY"],
        signed_tokens.PERSONAL,
        {"uid": alice.user_id, "tid": pat.id, "exp": int(time.time()) + 3600},
    )
    assert _refusal(client.get("/me", headers=_bearer(outdated))) == "outdated token"


def test_the_database_holds_the_nonce_never_the_token(app, client, alice, make_token):
    pat = make_token(alice, ["notes:read"])
    with app.app_context():
        nonce = db.session.scalar(sa.select(PersonalToken.nonce).where(PersonalToken.id == pat.id))
        claims = signed_tokens.codec().verify(signed_tokens.PERSONAL, pat.token)
    assert claims.nonce == nonce
    assert len(nonce) >= 22  # 16 random bytes
    assert pat.token.rsplit(".", 1)[1] not in nonce


# --- claims of the wrong type or past a column's range: 401 before any query --------------------


def _bad_payloads() -> list[tuple[str, dict]]:
    """One claim at a time made wrong, the others valid for a row that does exist."""
    good = {
        signed_tokens.ACCESS: {"uid": 1, "sid": "x"},
        signed_tokens.REFRESH: {"uid": 1, "sid": "x", "gen": 0},
        signed_tokens.PERSONAL: {"uid": 1, "tid": 1, "exp": FUTURE, "nonce": "x"},
        signed_tokens.MFA: {"uid": 1, "cid": "x"},
    }
    cases = []
    for kind, payload in good.items():
        for claim, valid in payload.items():
            wrong = OUT_OF_RANGE if isinstance(valid, int) else RANDOM_ID_FORMS
            if claim == "gen":
                wrong = [*wrong[1:], MAX_ID]  # 0 is a generation; MAX_ID + 1 is not
            if claim == "exp":
                wrong = [value for value in wrong if type(value) is not int]
            cases += [(kind, {**payload, claim: value}) for value in wrong]
    return cases


def _answer(client, kind: str, token: str):
    """Send ``token`` where a token of its kind is accepted."""
    if kind == signed_tokens.REFRESH:
        return client.post("/refresh", json={"refresh_token": token})
    if kind == signed_tokens.MFA:
        return client.post("/login/mfa", json={"mfa_token": token, "code": "123456"})
    return client.get("/me", headers=_bearer(token))


@pytest.mark.parametrize(("kind", "payload"), _bad_payloads())
def test_a_claim_of_the_wrong_type_or_range_is_a_clean_401(
    config, client, alice, queries, kind, payload
):
    token = signed_with_the_real_key(config["SECRET_KEY"], kind, payload)
    queries.clear()
    response = _answer(client, kind, token)
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["detail"] == "malformed token"
    assert not [q for q in queries if "audit_events" not in q]  # nothing looked up
    assert client.post("/revoke", json={"token": token}).status_code == 204


# Where a column, a driver or a JSON decoder draws a line, and one step past it.
BOUNDARIES = st.sampled_from(
    [*OUT_OF_RANGE, *RANDOM_ID_FORMS, MAX_ID, 2**32, 2**53, 2**63 - 1, -(2**63) - 1]
)
CLAIM_VALUES = st.one_of(
    BOUNDARIES,
    st.integers(),
    st.integers(min_value=MAX_ID - 2),
    st.floats(),
    st.none(),
    # Control characters and lone surrogates too: JSON escapes them, a column may not hold them.
    st.text(st.characters(categories=["L", "N", "P", "Cc", "Cs"]), max_size=50),
    st.from_regex(signed_tokens.RANDOM_ID, fullmatch=True),
    st.lists(st.integers(), max_size=2),
)
# Values a server makes, so that a payload gets past every claim but the one made wrong.
VALID_CLAIMS = {
    "uid": st.integers(min_value=1, max_value=3),
    "sid": st.from_regex(signed_tokens.RANDOM_ID, fullmatch=True),
    "gen": st.integers(min_value=0, max_value=3),
    "tid": st.integers(min_value=1, max_value=3),
    "exp": st.just(FUTURE),
    "nonce": st.from_regex(signed_tokens.RANDOM_ID, fullmatch=True),
    "cid": st.from_regex(signed_tokens.RANDOM_ID, fullmatch=True),
}
CLAIMS_OF = {
    signed_tokens.ACCESS: ("uid", "sid"),
    signed_tokens.REFRESH: ("uid", "sid", "gen"),
    signed_tokens.PERSONAL: ("uid", "tid", "exp", "nonce"),
    signed_tokens.MFA: ("uid", "cid"),
}


def _either(*strategies: st.SearchStrategy) -> st.SearchStrategy:
    """Draw from one of ``strategies``, each as likely (``one_of`` would weigh the branches of
    a nested ``one_of`` one by one)."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


def _payloads(kind: str) -> st.SearchStrategy:
    """Payloads for ``kind``: its valid claims with one made anything, or each valid or
    anything, or any claims at all."""
    names = CLAIMS_OF[kind]
    valid = st.fixed_dictionaries({name: VALID_CLAIMS[name] for name in names})
    one_wrong = st.tuples(valid, st.sampled_from(names), _either(BOUNDARIES, CLAIM_VALUES)).map(
        lambda drawn: {**drawn[0], drawn[1]: drawn[2]}
    )
    each_maybe_wrong = st.fixed_dictionaries(
        {name: st.one_of(VALID_CLAIMS[name], CLAIM_VALUES) for name in names}
    )
    anything = _either(
        st.dictionaries(st.sampled_from(sorted(VALID_CLAIMS)), CLAIM_VALUES, max_size=5),
        CLAIM_VALUES,
    )
    # Mostly one claim wrong: the payloads that would get as far as a query.
    return _either(one_wrong, one_wrong, each_maybe_wrong, anything)


KINDS_AND_PAYLOADS = st.sampled_from(sorted(CLAIMS_OF)).flatmap(
    lambda kind: st.tuples(st.just(kind), _payloads(kind))
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind_and_payload=KINDS_AND_PAYLOADS)
def test_any_claims_signed_with_the_real_key_are_only_ever_refused(
    config, client, alice, kind_and_payload
):
    kind, payload = kind_and_payload
    token = signed_with_the_real_key(config["SECRET_KEY"], kind, payload)
    assert _answer(client, kind, token).status_code == 401
    assert client.post("/revoke", json={"token": token}).status_code == 204


# --- a user deleted while their own requests write ----------------------------------------------


@pytest.fixture
def delete_meanwhile(app, monkeypatch):
    """Delete a user, once, from another app context (its own session and connection) at a
    chosen moment of a running request: before a statement, after a service step, or right
    after the request's first commit."""
    with app.app_context():
        engine = db.engine
    undo: list[Callable[[], None]] = []

    def delete(username: str) -> Callable[[], None]:
        pending = [username]

        def delete_once() -> None:
            if pending:
                name = pending.pop()
                with app.app_context():
                    accounts.delete_user(accounts.get_user(name), origin=CLI)

        return delete_once

    class Moments:
        def before_statement(self, username: str, start: str) -> None:
            delete_once = delete(username)

            def hook(conn, cursor, statement, parameters, context, executemany):
                if statement.startswith(start):
                    delete_once()

            sa.event.listen(engine, "before_cursor_execute", hook)
            undo.append(lambda: sa.event.remove(engine, "before_cursor_execute", hook))

        def after_step(self, username: str, module, name: str) -> None:
            delete_once = delete(username)
            step = getattr(module, name)

            def step_then_delete(*args, **kwargs):
                result = step(*args, **kwargs)
                delete_once()
                return result

            monkeypatch.setattr(module, name, step_then_delete)

        def after_first_commit(self, username: str) -> None:
            delete_once = delete(username)

            def hook(session):
                delete_once()

            sa.event.listen(db.session, "after_commit", hook)
            undo.append(lambda: sa.event.remove(db.session, "after_commit", hook))

    yield Moments()
    for step in reversed(undo):
        step()


def _rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _events(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.event == name)
        )


def test_a_note_written_as_its_owner_is_deleted_is_401_and_not_kept(
    app, client, alice, delete_meanwhile
):
    delete_meanwhile.before_statement("alice", "INSERT INTO notes")
    response = client.post("/notes", json={"title": "lost"}, headers=alice.headers)
    assert _refusal(response) == "user deleted"
    assert _rows(app, Note) == 0
    assert _rows(app, User) == 0


def test_a_pat_made_as_its_owner_is_deleted_is_401_and_not_kept(
    app, client, alice, delete_meanwhile
):
    delete_meanwhile.before_statement("alice", "INSERT INTO personal_tokens")
    response = client.post(
        "/tokens", json={"name": "script", "scopes": ["notes:read"]}, headers=alice.headers
    )
    assert _refusal(response) == "user deleted"
    assert _rows(app, PersonalToken) == 0
    assert _events(app, "personal_token_created") == 0


def test_a_note_changed_as_its_owner_is_deleted_is_401(app, client, alice, delete_meanwhile):
    note = client.post("/notes", json={"title": "mine"}, headers=alice.headers).json["id"]
    delete_meanwhile.after_step("alice", notes, "get_note")
    response = client.patch(f"/notes/{note}", json={"title": "changed"}, headers=alice.headers)
    assert _refusal(response) == "user deleted"
    assert _rows(app, Note) == 0


def test_a_refresh_whose_user_is_deleted_before_the_swap_is_401(
    app, client, alice, delete_meanwhile
):
    delete_meanwhile.before_statement("alice", "UPDATE login_sessions")
    response = client.post("/refresh", json={"refresh_token": alice.refresh_token})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "session not found"


def test_a_refresh_whose_user_is_deleted_right_after_the_swap_answers_cleanly(
    app, client, alice, delete_meanwhile
):
    delete_meanwhile.after_first_commit("alice")
    response = client.post("/refresh", json={"refresh_token": alice.refresh_token})
    # The refresh was whole before the delete began: its pair, which the delete then ended.
    assert response.status_code == 200, response.get_json()
    pair = response.get_json()
    assert _rows(app, User) == 0
    assert _refusal(client.get("/me", headers=_bearer(pair["access_token"]))) == (
        "session not found"
    )
    again = client.post("/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401


@pytest.mark.parametrize(
    "changes",
    [
        {"is_active": False},
        {"is_admin": True},
        {"is_admin": False},
        {"password": "a brand new passphrase"},
        {"is_active": True, "is_admin": False},
    ],
)
def test_an_admin_change_racing_the_users_delete_is_404_and_not_kept(
    app, client, admin, make_user, delete_meanwhile, changes
):
    bob = make_user("bob")
    delete_meanwhile.after_step("bob", accounts, "user_by_id")
    response = client.patch(f"/users/{bob}", json=changes, headers=admin.headers)
    assert response.status_code == 404, response.get_json()
    assert response.content_type == "application/problem+json"
    assert _events(app, "user_changed") == 0
    assert client.get(f"/users/{bob}", headers=admin.headers).status_code == 404


# --- the migration: ids already given out stay given out ----------------------------------------


@pytest.fixture
def sqlite_app(config, tmp_path, backend):
    """An app whose SQLite database has no tables yet: each test migrates it."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL's sequences never went back: 0006 only adds a column there")
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _upgrade(app, revision: str) -> None:
    with app.app_context():
        command.upgrade(app.extensions["migrate"].migrate.get_config(), revision)


def _tables_made(app) -> dict[str, str]:
    with app.app_context(), db.engine.connect() as connection:
        query = sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        return {name: sql for name, sql in connection.execute(query)}


@pytest.mark.parametrize("made_by", ["migrations", "models"])
def test_every_table_whose_ids_leave_the_database_has_autoincrement(sqlite_app, made_by):
    if made_by == "migrations":
        _upgrade(sqlite_app, "head")
    else:
        with sqlite_app.app_context():
            create_schema()
    made = _tables_made(sqlite_app)
    for table in AUTOINCREMENT_TABLES:
        assert "AUTOINCREMENT" in made[table], table


def _insert(connection, sql: str) -> None:
    connection.execute(sa.text(sql))


@contextmanager
def _database(app) -> Iterator[sa.Connection]:
    with app.app_context(), db.engine.begin() as connection:
        yield connection


def test_upgrading_keeps_the_rows_and_never_hands_out_an_id_given_before(sqlite_app):
    app = sqlite_app
    _upgrade(app, "0005")
    with _database(app) as connection:
        for user_id in (1, 2, 3):
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, username, username_key, password_hash, is_admin,"
                    " is_active, created_at) VALUES (:id, :name, :name, 'x', false, true,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"id": user_id, "name": f"u{user_id}"},
            )
        _insert(
            connection,
            "INSERT INTO personal_tokens (id, user_id, name, scopes, key_id, created_at,"
            " expires_at) VALUES (4, 2, 'kept', 'notes:read', 'k', CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)",
        )
        _insert(
            connection,
            "INSERT INTO notes (id, owner_id, title, body, created_at, updated_at) VALUES"
            " (5, 2, 'kept', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )
        # Rows made and deleted before the upgrade: only the events remember their ids.
        _insert(
            connection,
            "INSERT INTO audit_events (time, event, outcome, user_id, client, fields) VALUES"
            " (CURRENT_TIMESTAMP, 'user_created', 'success', 7, 'cli', '{}'),"
            " (CURRENT_TIMESTAMP, 'personal_token_created', 'success', 2, 'cli',"
            " '{\"token_id\": 9}')",
        )
        _insert(connection, "DELETE FROM users WHERE id = 3")
    _upgrade(app, "head")
    with app.app_context():
        assert [u.username for u in accounts.all_users()] == ["u1", "u2"]
        assert db.session.scalar(sa.select(Note.title)) == "kept"
        assert db.session.get(PersonalToken, 4).nonce is None  # no token can name it
        user = accounts.create_user("newcomer", PASSWORD, origin=CLI)
        note = notes.create_note(user.id, "new")
        assert user.id == 8
        assert note.id == 6
        db.session.add(
            PersonalToken(
                user_id=user.id,
                name="new",
                scopes="notes:read",
                key_id="k",
                expires_at=utcnow() + timedelta(days=1),
                nonce=signed_tokens.new_nonce(),
            )
        )
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.max(PersonalToken.id))) == 10
        # Deleting a user cascades into the tables made again, as before.
        accounts.delete_user(db.session.get(User, 2), origin=CLI)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalToken)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Note)) == 1
