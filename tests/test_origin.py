"""Who an event says asked: the client and the actor come from the ``Origin`` a view builds
(``request_origin``) or the CLI's, handed to the use case, never read from the request by it.
"""

from __future__ import annotations

import sqlalchemy as sa
from support.accounts import PASSWORD

from api.database import db
from api.models import AuditEvent
from api.origin import CLI, Origin

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Tessera-test"


def rows(app, **where) -> list[AuditEvent]:
    with app.app_context():
        query = sa.select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def origin_of(event: AuditEvent) -> Origin:
    return Origin(event.client, event.user_agent, event.actor_id)


def test_a_wrong_password_in_a_guarded_view_names_the_caller_as_actor(app, client, alice):
    headers = {**alice.headers, "User-Agent": BROWSER}
    body = {"current_password": "not the passphrase", "new_password": PASSWORD + "!"}
    assert client.post("/password", json=body, headers=headers).status_code == 403
    [refused] = rows(app, event="password_changed")
    assert refused.outcome == "failure"
    assert origin_of(refused) == Origin("127.0.0.1", BROWSER, alice.user_id)


def test_a_view_anyone_may_call_names_no_actor_whatever_token_comes_along(
    app, client, alice, make_user
):
    """``POST /login`` authenticates no one: a token sent along is not looked at."""
    make_user("bob")
    body = {"username": "bob", "password": PASSWORD}
    assert client.post("/login", json=body, headers=alice.headers).status_code == 200
    [bob_login] = [event for event in rows(app, event="login") if event.user_id != alice.user_id]
    assert bob_login.actor_id is None
    assert bob_login.client == "127.0.0.1"


def test_revoking_a_token_names_no_actor(app, client, alice):
    assert client.post("/revoke", json={"token": alice.refresh_token}).status_code == 204
    [revoked] = rows(app, event="token_revoked")
    assert revoked.actor_id is None
    assert revoked.user_id == alice.user_id


def test_the_cli_is_an_origin_without_a_client_or_an_actor(app, cli):
    assert (CLI.address, CLI.user_agent, CLI.actor_id) == ("cli", None, None)
    assert cli("users", "create", "carol", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    [created] = rows(app, event="user_created")
    assert origin_of(created) == CLI
