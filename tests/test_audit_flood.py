"""The audit trail cannot be flooded.

A refusal that proves nothing (a token that fails its form, signature or expiry; a 429) costs
its sender nothing, so it is counted in ``/metrics`` and logged once a minute per kind with how
many it left out, never one row each. A refusal whose cause the client paid for (a real
session's token, a real account's code) is still a row.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from support.accounts import PASSWORD, totp_code
from support.forged_tokens import forged_signature, unknown_key

from api.credentials import signed_tokens
from api.database import db
from api.models import AuditEvent
from api.refusal_tally import LOG_INTERVAL

pytestmark = pytest.mark.usefixtures("clock")
REFUSALS = "tessera_refusals_total"


@pytest.fixture
def config(config):
    return {**config, "METRICS_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}


def audit_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def metric(client, name: str, **labels: str) -> float:
    """The sum of a counter's samples whose labels include ``labels``."""
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


@pytest.fixture
def refusal_lines(caplog):
    """The refusals' own log lines, parsed."""
    caplog.set_level(logging.INFO, logger="tessera.audit")

    def lines() -> list[dict]:
        return [
            json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit.refusals"
        ]

    return lines


def garbage(real: list[str], kind: str, count: int) -> list[str]:
    """``count`` tokens that prove nothing: forged, of an unknown key, of another kind,
    malformed, or random, made from the ``real`` tokens of other kinds and of this one."""
    makers = itertools.cycle(
        [
            lambda: forged_signature(real[0]),
            lambda: unknown_key(real[0]),
            lambda: secrets.choice(real[1:]),  # a real token of another kind
            lambda: f"{kind}.{secrets.token_hex(4)}.{secrets.token_urlsafe(30)}",
            lambda: secrets.token_urlsafe(secrets.randbelow(60) + 1),
        ]
    )
    return [next(makers)() for _ in range(count)]


def test_400_garbage_tokens_write_no_row_and_are_counted(
    app, client, alice, enrol, mfa_token, clock
):
    enrol(alice)
    mfa = mfa_token("alice")
    refresh_garbage = garbage(
        [alice.refresh_token, alice.access_token, mfa], signed_tokens.REFRESH, 200
    )
    mfa_garbage = garbage([mfa, alice.access_token, alice.refresh_token], signed_tokens.MFA, 200)
    rows, counted = audit_rows(app), metric(client, REFUSALS)

    for token in refresh_garbage:
        assert client.post("/refresh", json={"refresh_token": token}).status_code == 401
    for token in mfa_garbage:
        response = client.post("/login/mfa", json={"mfa_token": token, "code": "123456"})
        assert response.status_code == 401

    assert audit_rows(app) == rows
    assert metric(client, REFUSALS) == counted + 400
    assert metric(client, REFUSALS, event="refresh") == 200
    assert metric(client, REFUSALS, event="mfa_challenge") == 200
    assert metric(client, REFUSALS, event="refresh", reason="invalid signature") >= 40


def test_the_log_says_each_kind_once_a_minute_with_how_many_it_left_out(
    client, clock, refusal_lines
):
    for _ in range(30):
        client.post("/refresh", json={"refresh_token": "rt.x.y"})
    client.post("/refresh", json={"refresh_token": "nonsense"})  # another reason: its own line
    [first, other] = refusal_lines()
    assert (first["event"], first["reason"], first["suppressed"]) == (
        "refresh",
        "unknown signing key",
        0,
    )
    assert (other["reason"], other["suppressed"]) == ("malformed token", 0)
    assert first["client"] == "127.0.0.1" and "id" not in first

    clock.shift(LOG_INTERVAL - 1)
    client.post("/refresh", json={"refresh_token": "rt.x.y"})
    assert len(refusal_lines()) == 2
    clock.shift(1)
    client.post("/refresh", json={"refresh_token": "rt.x.y"})
    later = refusal_lines()[-1]
    assert (later["reason"], later["suppressed"]) == ("unknown signing key", 30)


def test_429s_write_no_row_and_are_counted(app, client, alice):
    wrong = {"username": "alice", "password": "not the password"}
    assert [client.post("/login", json=wrong).status_code for _ in range(3)] == [401] * 3
    rows = audit_rows(app)
    statuses = [client.post("/login", json=wrong).status_code for _ in range(50)]
    assert statuses == [429] * 50
    assert audit_rows(app) == rows
    assert metric(client, "tessera_rate_limited_total") == 50


def test_refusals_the_client_paid_for_are_still_rows(app, client, alice, enrol, mfa_token, clock):
    enrolled = enrol(alice)
    clock.shift(60)
    # A real session's refresh token, after its session ended.
    assert client.post("/logout", headers=alice.headers).status_code == 204
    rows = audit_rows(app)
    assert client.post("/refresh", json={"refresh_token": alice.refresh_token}).status_code == 401
    assert audit_rows(app) == rows + 1
    # A real account's wrong code, with the password behind its mfa_token.
    near = {totp_code(enrolled.secret, steps) for steps in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    body = {"mfa_token": mfa_token("alice"), "code": wrong}
    rows = audit_rows(app)
    assert client.post("/login/mfa", json=body).status_code == 401
    assert audit_rows(app) == rows + 1
    with app.app_context():
        [event] = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert (event.event, event.outcome, event.fields["reason"]) == (
        "mfa_challenge",
        "failure",
        "wrong code",
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(max_size=300), endpoint=st.sampled_from(["refresh", "mfa"]))
def test_no_token_anyone_can_make_writes_a_row(app, client, token, endpoint):
    rows = audit_rows(app)
    if endpoint == "refresh":
        response = client.post("/refresh", json={"refresh_token": token})
    else:
        response = client.post("/login/mfa", json={"mfa_token": token, "code": "123456"})
    assert response.status_code in {400, 401, 422}
    assert audit_rows(app) == rows


def test_wrong_passwords_write_rows_only_until_the_limit(app, client):
    # An unknown username is refused as a wrong password is: 3 rows, then the limit's 429s.
    body = {"username": "nobody", "password": PASSWORD}
    statuses = [client.post("/login", json=body).status_code for _ in range(20)]
    assert statuses == [401] * 3 + [429] * 17
    assert audit_rows(app) == 3
