"""Enumeration-safe timing without a stopwatch: ``POST /password/forgot`` and ``POST /signup``
send the same statements and hash as often whether or not the address or name has an account
(MAIL-02): the same work, which is what makes the times alike."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from support.accounts import PASSWORD

from api.database import db
from api.models import User

SHAPE = re.compile(r"^(\w+)\b.*?\b(?:INTO|UPDATE|FROM)\s+\"?(\w+)", re.DOTALL)


@pytest.fixture
def config(config):
    return {**config, "SIGNUP_POLICY": "open", "MAIL_URL": None}


@pytest.fixture
def alice(make_user, cli):
    make_user("alice")
    assert cli("users", "set-email", "alice", "alice@example.test").exit_code == 0


def _shapes(statements) -> list[str]:
    """Each statement's verb and table: what the database is asked to do."""
    shapes = []
    for statement in statements:
        match = SHAPE.match(str(statement).strip())
        shapes.append(" ".join(match.groups()) if match else str(statement).split()[0])
    return shapes


def _work(client, queries, hasher, path: str, body: dict) -> tuple[list[str], int, int]:
    queries.clear()
    before = (hasher.hashes, hasher.verifications)
    answer = client.post(path, json=body)
    assert answer.status_code == 202, answer.get_json()
    return (
        _shapes(queries),
        hasher.hashes - before[0],
        hasher.verifications - before[1],
    )


def test_forgot_does_the_same_work_for_known_and_unknown_addresses(
    app, client, alice, cli, queries, hasher
):
    with app.app_context():  # verified: only a verified address is mailed a reset
        db.session.execute(sa.update(User).values(email_verified=True))
        db.session.commit()
    known = _work(client, queries, hasher, "/password/forgot", {"email": "alice@example.test"})
    unknown = _work(client, queries, hasher, "/password/forgot", {"email": "nobody@example.test"})
    assert known == unknown
    assert "INSERT mail_tickets" in known[0] and "INSERT outbox_mails" in known[0]


def test_signup_does_the_same_work_for_free_and_taken_names_and_addresses(
    client, alice, queries, hasher
):
    def signup(username: str, email: str):
        body = {"username": username, "email": email, "password": PASSWORD}
        return _work(client, queries, hasher, "/signup", body)

    free = signup("carol", "carol@example.test")
    taken_address = signup("dave", "alice@example.test")
    taken_name = signup("alice", "erin@example.test")
    assert free == taken_address == taken_name
    assert free[1] == 1  # one Argon2 hash, whatever happens
    assert "INSERT mail_tickets" in free[0] and "INSERT outbox_mails" in free[0]
