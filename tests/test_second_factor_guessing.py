"""Second-factor guessing is bounded per account, not per minute.

Wrong codes count on the user's row across every ``mfa_token``, address and endpoint: after
5 in a row each further TOTP code waits a delay that doubles from a second up to an hour
(429 with ``Retry-After``); after 100 only a recovery code passes, until one does or an
administrator runs ``users mfa-reset``. The clock stands still until a test moves it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from support.accounts import PASSWORD, totp_code

from api.credentials import second_factor_failures as failures
from api.database import db
from api.models import AuditEvent, User

pytestmark = pytest.mark.usefixtures("clock")
WEEK = 7 * 24 * 3600
DAY = 24 * 3600
TOKEN_LIFETIME = 300  # MFA_TOKEN_MAX_AGE's default


@pytest.fixture
def config(config):
    # The per-minute limits stay out of the way: only the account's own count refuses here.
    return {**config, "LOGIN_RATE_LIMIT": "10000 per minute", "METRICS_ENABLED": True}


@pytest.fixture
def enrolled(alice, enrol, clock):
    """Alice with TOTP on; the clock two minutes (four steps) past her enrolment."""
    enrolment = enrol(alice)
    clock.shift(120)
    return enrolment


def wrong_code(secret: str) -> str:
    """A 6-digit code that no step near now has."""
    near = {totp_code(secret, steps) for steps in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


def second_step(client, token: str, address: str = "127.0.0.1", **factor):
    return client.post(
        "/login/mfa", json={"mfa_token": token, **factor}, environ_base={"REMOTE_ADDR": address}
    )


def account(app, user_id: int) -> tuple[int, object]:
    """The user's count of wrong codes and the time the next TOTP code may come."""
    with app.app_context():
        user = db.session.get(User, user_id)
        return user.mfa_failures, user.mfa_retry_at


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)))


class Guesser:
    """An attacker who holds the password: a new ``mfa_token`` whenever one is spent."""

    def __init__(self, client, mfa_token, secret: str) -> None:
        self.client, self.mfa_token, self.secret = client, mfa_token, secret
        self.token, self.left, self.issued = "", 0, 0.0

    def guess(self, **factor):
        if self.left == 0 or time.time() - self.issued > TOKEN_LIFETIME / 2:
            self.token, self.left, self.issued = self.mfa_token("alice"), 5, time.time()
        response = second_step(self.client, self.token, **(factor or {"code": self.wrong()}))
        if response.status_code == 200:
            self.left = 0  # a success spends the mfa_token
        elif response.status_code == 401 and "wrong code" in response.get_json()["detail"]:
            self.left -= 1
        return response

    def wrong(self) -> str:
        return wrong_code(self.secret)


# --- the schedule -----------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**6))
def test_the_delay_never_shrinks_and_never_passes_an_hour(count):
    assert 0 <= failures.delay(count) <= failures.delay(count + 1) <= failures.MAX_DELAY


@given(st.integers(min_value=failures.FREE_FAILURES, max_value=failures.CAPPED_FROM - 1))
def test_the_delay_doubles_from_a_second_after_five_until_the_cap(count):
    assert failures.delay(count) == 2 ** (count - failures.FREE_FAILURES)
    assert failures.delay(count + 1) == min(2 * failures.delay(count), failures.MAX_DELAY)


def test_five_wrong_codes_cost_nothing():
    assert [failures.delay(n) for n in range(6)] == [0, 0, 0, 0, 0, 1]
    assert failures.most_guesses(0) == failures.FREE_FAILURES


@given(st.floats(min_value=0, max_value=10 * WEEK), st.floats(min_value=0, max_value=WEEK))
def test_more_time_never_buys_fewer_guesses_nor_more_than_the_lockout(seconds, more):
    assert failures.most_guesses(seconds) <= failures.most_guesses(seconds + more)
    assert failures.most_guesses(seconds + more) <= failures.LOCKOUT_FAILURES


def test_a_week_of_guessing_has_a_negligible_chance():
    alone = failures.most_guesses(WEEK) * failures.CODE_CHANCE
    owner_logs_in_daily = 7 * failures.most_guesses(DAY) * failures.CODE_CHANCE
    assert failures.most_guesses(WEEK) == failures.LOCKOUT_FAILURES == 100
    assert failures.most_guesses(DAY) == 39
    assert alone == pytest.approx(0.0003)  # 0.03 %
    assert owner_logs_in_daily < 0.001
    # The measurement of the old limits: 825 guesses an hour, 34 % a week.
    assert 1 - (1 - failures.CODE_CHANCE) ** (825 * 24 * 7) > 0.34


# --- one counter per account ------------------------------------------------------------


def test_wrong_codes_across_mfa_tokens_and_addresses_share_one_delay(
    app, client, clock, alice, enrolled, mfa_token
):
    wrong = wrong_code(enrolled.secret)
    first, second = mfa_token("alice"), mfa_token("alice")
    for token, address in [(first, "192.0.2.1")] * 3 + [(second, "198.51.100.2")] * 2:
        assert second_step(client, token, address, code=wrong).status_code == 401
    assert account(app, alice.user_id)[0] == 5

    # Even the right code, from yet another address with a new mfa_token, waits.
    waiting = second_step(
        client, mfa_token("alice"), "203.0.113.3", code=totp_code(enrolled.secret)
    )
    assert waiting.status_code == 429
    assert waiting.headers["Retry-After"] == "1"
    assert account(app, alice.user_id)[0] == 5  # a code refused unchecked is not counted

    clock.shift(1)
    assert second_step(client, second, code=wrong_code(enrolled.secret)).status_code == 401
    again = second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret))
    assert (again.status_code, again.headers["Retry-After"]) == (429, "2")
    clock.shift(1)
    assert (
        second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret)).status_code == 429
    )
    clock.shift(1)
    assert (
        second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret)).status_code == 200
    )
    assert account(app, alice.user_id) == (0, None)  # a right code starts the count again


def test_the_delay_grows_with_every_failure(client, clock, enrolled, mfa_token):
    guesser = Guesser(client, mfa_token, enrolled.secret)
    waits = []
    for _ in range(15):
        response = guesser.guess()
        if response.status_code == 429:
            waits.append(int(response.headers["Retry-After"]))
            clock.shift(waits[-1])
            assert guesser.guess().status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def test_a_wait_is_no_failed_attempt_and_leaves_no_row(app, client, enrolled, mfa_token):
    guesser = Guesser(client, mfa_token, enrolled.secret)
    for _ in range(failures.FREE_FAILURES):
        guesser.guess()
    before = len(events(app, "mfa_challenge"))
    statuses = {guesser.guess().status_code for _ in range(50)}
    assert statuses == {429}
    assert len(events(app, "mfa_challenge")) == before
    assert events(app, "rate_limited") == []
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'tessera_rate_limited_total{counter="account"} 50.0' in scraped


def test_a_recovery_code_never_waits_and_starts_the_count_again(
    app, client, alice, enrolled, mfa_token
):
    guesser = Guesser(client, mfa_token, enrolled.secret)
    for _ in range(failures.FREE_FAILURES):
        guesser.guess()
    assert guesser.guess().status_code == 429
    recovered = second_step(client, mfa_token("alice"), recovery_code=enrolled.recovery_codes[0])
    assert recovered.status_code == 200
    assert account(app, alice.user_id) == (0, None)


def test_a_wrong_recovery_code_counts_too(app, client, alice, enrolled, mfa_token):
    token = mfa_token("alice")
    response = second_step(client, token, recovery_code="AAAA-BBBB-CCCC-DDDD")
    assert response.status_code == 401
    assert account(app, alice.user_id)[0] == 1


def test_concurrent_wrong_codes_each_count_and_none_passes_the_delay(
    app, live_server, enrolled, mfa_token
):
    # Eight wrong codes at once, on four mfa_tokens (two each: none is spent).
    tokens = [mfa_token("alice") for _ in range(4)] * 2
    wrong = wrong_code(enrolled.secret)

    def guess(token: str) -> int:
        body = {"mfa_token": token, "code": wrong}
        return requests.post(f"{live_server}/login/mfa", json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(guess, tokens))
    assert sorted(statuses) == [401] * failures.FREE_FAILURES + [429] * 3
    with app.app_context():
        counted = db.session.scalar(sa.select(User.mfa_failures))
    assert counted == failures.FREE_FAILURES  # every code checked was counted, and no more


# --- a week of guessing, and the lockout ------------------------------------------------


def test_a_week_of_guessing_checks_at_most_100_codes_then_only_a_recovery_code_passes(
    app, client, clock, alice, enrolled, mfa_token
):
    guesser = Guesser(client, mfa_token, enrolled.secret)
    checked, waited, locked = 0, 0, None
    while waited < WEEK and locked is None:
        response = guesser.guess()
        if response.status_code == 429:
            seconds = int(response.headers["Retry-After"])
            clock.shift(seconds)
            waited += seconds
        elif response.get_json()["detail"] == failures.LOCKED:
            locked = response
        else:
            assert response.get_json()["detail"].startswith("wrong code")
            checked += 1
    assert checked == failures.LOCKOUT_FAILURES <= failures.most_guesses(waited)
    assert waited < WEEK
    assert locked.status_code == 401
    [event] = events(app, "mfa_locked")
    assert (event.user_id, event.fields) == (alice.user_id, {"failures": 100})

    clock.shift(WEEK)  # no wait ends the lockout
    right = guesser.guess(code=totp_code(enrolled.secret))
    assert (right.status_code, right.get_json()["detail"]) == (401, failures.LOCKED)
    assert account(app, alice.user_id)[0] == failures.LOCKOUT_FAILURES  # refused unchecked
    recovered = guesser.guess(recovery_code=enrolled.recovery_codes[0])
    assert recovered.status_code == 200
    clock.shift(30)
    assert guesser.guess(code=totp_code(enrolled.secret)).status_code == 200


def test_the_lockout_refusal_writes_no_row_and_is_counted(app, client, alice, enrolled, mfa_token):
    with app.app_context():
        db.session.execute(sa.update(User).values(mfa_failures=failures.LOCKOUT_FAILURES))
        db.session.commit()
    before = len(events(app, "mfa_challenge"))
    for _ in range(20):
        refused = second_step(client, mfa_token("alice"), code=totp_code(enrolled.secret))
        assert refused.get_json()["detail"] == failures.LOCKED
    assert len(events(app, "mfa_challenge")) == before
    scraped = client.get("/metrics").get_data(as_text=True)
    assert (
        'tessera_refusals_total{event="mfa_challenge",reason="second factor locked"} 20.0'
        in scraped
    )


def test_mfa_reset_ends_the_lockout(app, client, cli, alice, enrol, enrolled, login):
    with app.app_context():
        db.session.execute(
            sa.update(User).values(mfa_failures=failures.LOCKOUT_FAILURES, mfa_retry_at=None)
        )
        db.session.commit()
    assert cli("users", "mfa-reset", "alice").exit_code == 0
    assert account(app, alice.user_id) == (0, None)
    again = enrol(login("alice"))  # TOTP off: the password alone logs in, to enrol again
    response = client.post("/login", json={"username": "alice", "password": PASSWORD})
    token = response.get_json()["mfa_token"]
    assert second_step(client, token, code=totp_code(again.secret, 1)).status_code == 200


# --- /reauthenticate counts on the same account -----------------------------------------


def reauthenticate(client, alice, password: str = PASSWORD, **factor):
    body = {"password": password, **factor}
    return client.post("/reauthenticate", json=body, headers=alice.headers)


def test_wrong_codes_at_reauthenticate_count_on_the_account(
    app, client, clock, alice, enrolled, mfa_token
):
    for _ in range(3):
        response = reauthenticate(client, alice, code=wrong_code(enrolled.secret))
        assert response.status_code == 403
    assert account(app, alice.user_id)[0] == 3
    # A wrong password checks no code: it does not count here (the password's limits do).
    assert reauthenticate(client, alice, "not the password", code="123456").status_code == 403
    assert account(app, alice.user_id)[0] == 3
    token = mfa_token("alice")
    for _ in range(2):
        assert second_step(client, token, code=wrong_code(enrolled.secret)).status_code == 401
    waiting = reauthenticate(client, alice, code=totp_code(enrolled.secret))
    assert (waiting.status_code, waiting.headers["Retry-After"]) == (429, "1")
    # The same 429 whatever the password: the wait says nothing about it.
    assert reauthenticate(client, alice, "not the password", code="123456").status_code == 429
    clock.shift(1)
    assert reauthenticate(client, alice, code=totp_code(enrolled.secret)).status_code == 200
    assert account(app, alice.user_id) == (0, None)


def test_after_the_lockout_reauthenticate_takes_only_a_recovery_code(app, client, alice, enrolled):
    with app.app_context():
        db.session.execute(sa.update(User).values(mfa_failures=failures.LOCKOUT_FAILURES))
        db.session.commit()
    refused = reauthenticate(client, alice, code=totp_code(enrolled.secret))
    assert (refused.status_code, refused.get_json()["detail"]) == (403, failures.LOCKED)
    recovered = reauthenticate(client, alice, recovery_code=enrolled.recovery_codes[0])
    assert recovered.status_code == 200
    assert account(app, alice.user_id) == (0, None)
