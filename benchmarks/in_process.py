"""The in-process cases: WSGI calls with prepared environs, interleaved round after round."""

from __future__ import annotations

import asyncio
import collections
import gc
import io
import itertools
import json
import queue
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event
from support.accounts import PASSWORD
from support.authenticator import Authenticator
from support.dpop import DpopKey
from support.loopback import closed_loopback_port
from support.smtp import Mailbox
from support.statements import StatementRecorder

from api.credentials import passwords
from api.database import db
from api.models import Passkey
from api.services import accounts, mail_delivery, passkey_login, passkeys

from .app import BARE_PATH
from .peer import ME_PATH as PEER_ME_PATH
from .seeding import Fixture

# How long the mail server the mail cases deliver to takes over each mail.
MAIL_SERVER_DELAY = 0.5
# The key in ``Fixture.unavailable`` that says the mail server never got a mail.
MAIL_SERVER = "mail_server"


@dataclass
class Case:
    """One kind of request, and how to prepare and check it."""

    name: str
    app: Flask | None
    prepare: Callable[[], dict[str, Any] | Callable[[], Any]]
    expect: int | None = None
    after: Callable[[bytes], None] | None = None
    batch: int = 10
    every: int = 1

    def run_once(self) -> float:
        """Make one request (or call); return its duration in seconds."""
        target = self.prepare()
        if callable(target):
            start = time.perf_counter()
            target()
            return time.perf_counter() - start
        chunks: list[bytes] = []
        status: list[str] = []

        def start_response(code, headers, exc_info=None):
            status.append(code)

        start = time.perf_counter()
        result = self.app.wsgi_app(target, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        elapsed = time.perf_counter() - start
        if self.expect is not None and not status[0].startswith(str(self.expect)):
            raise RuntimeError(f"{self.name}: got {status[0]}, expected {self.expect}")
        if self.after is not None:
            self.after(b"".join(chunks))
        return elapsed


def environ(path: str, token: str | None = None, body: Any = None) -> Callable[[], dict]:
    """Return a maker of ready WSGI environs for one request (a fresh input stream each)."""
    from werkzeug.test import EnvironBuilder

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    method = "POST" if body is not None else "GET"
    builder = EnvironBuilder(path=path, method=method, headers=headers, json=body)
    base = builder.get_environ()
    data = json.dumps(body).encode() if body is not None else b""
    base["REMOTE_ADDR"] = "127.0.0.1"

    def make() -> dict:
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(data)
        return env

    return make


def login_case(name: str, app: Flask, username: str, password: str, expect: int) -> Case:
    return Case(
        name,
        app,
        environ("/login", body={"username": username, "password": password}),
        expect,
        batch=1,
        every=3,
    )


def audit_case(name: str, fixture: Fixture) -> Case:
    """An admin's ``GET /audit?user_id=`` of the audited user: one page of their events."""
    path = f"/audit?user_id={fixture.audited_user_id}"
    return Case(name, fixture.app, environ(path, fixture.tokens["admin"]), 200)


def refresh_case(fixture: Fixture) -> Case:
    state = {"token": fixture.tokens["refresh"]}

    def prepare():
        return environ("/refresh", body={"refresh_token": state["token"]})()

    def after(body: bytes) -> None:
        state["token"] = json.loads(body)["refresh_token"]

    return Case("refresh", fixture.app, prepare, 200, after)


def passkey_login_case(app: Flask, username: str) -> Case:
    """``POST /login/passkey`` by the user's passkey (one that keeps a counter, so that each
    login moves it): new options and a new assertion for each request, made before it."""
    authenticator = Authenticator(counter=0)
    with app.app_context():
        user_id = accounts.get_user(username).id
        authenticator.user_handle = passkeys.user_handle(user_id)
        db.session.add(
            Passkey(
                user_id=user_id,
                credential_id=authenticator.id,
                public_key=authenticator.cose_key(),
                name="bench",
            )
        )
        db.session.commit()

    def prepare() -> dict:
        with app.app_context():
            ceremony = passkey_login.login_options()
        credential = authenticator.assert_(ceremony.options)
        return environ("/login/passkey", body={"state": ceremony.state, "credential": credential})()

    return Case("passkey_login", app, prepare, 200, batch=1)


def dpop_me_case(app: Flask, username: str) -> Case:
    """``GET /me`` with a DPoP-bound access token: a new proof (and ``jti``) for each request,
    signed before it; what the request pays is the proof's check and its replay record."""
    key = DpopKey()
    answer = app.test_client().post(
        "/login",
        json={"username": username, "password": PASSWORD},
        headers={"DPoP": key.proof("POST", "/login")},
    )
    token = answer.get_json()["access_token"]

    def prepare() -> dict:
        env = environ("/me")()
        env["HTTP_AUTHORIZATION"] = f"DPoP {token}"
        env["HTTP_DPOP"] = key.proof("GET", "/me", token)
        return env

    return Case("me_dpop", app, prepare, 200)


def verify_case(app: Flask) -> Case:
    with app.app_context():
        hashing = passwords.hashing()
    password_hash = hashing.hash(PASSWORD)
    return Case(
        "password_verify",
        None,
        lambda: lambda: hashing.verify(password_hash, PASSWORD),
        batch=1,
        every=3,
    )


def hash_case(app: Flask) -> Case:
    """One Argon2 hash of a password, as a sign-up pays it."""
    with app.app_context():
        hashing = passwords.hashing()
    return Case("password_hash", None, lambda: lambda: hashing.hash(PASSWORD), batch=1, every=3)


class SlowMailbox(Mailbox):
    """A real SMTP server on loopback that takes ``MAIL_SERVER_DELAY`` over each mail."""

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        await asyncio.sleep(MAIL_SERVER_DELAY)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def slow_mail_server(fixture: Fixture) -> Iterator[SlowMailbox]:
    """Point the app's ``MAIL_URL`` at a slow mail server while the block runs, so that the
    app's sender thread delivers the mails the requests write, as it would in production.

    At the end, if no mail reached the server the requests proved nothing about waiting on it
    (``MAIL_SERVER`` in ``fixture.unavailable``). Then the server stops (the conversation in
    progress fails, and its mail stays in the outbox) and so does the sender thread, whose
    backlog stays unsent; ``MAIL_URL`` is unset again.
    """
    app = fixture.app
    mailbox = SlowMailbox(closed_loopback_port())
    mailbox.start()
    app.config["MAIL_URL"] = mailbox.url
    try:
        yield mailbox
    finally:
        try:
            mailbox.wait_for(timeout=10 * MAIL_SERVER_DELAY)
        except queue.Empty:
            fixture.unavailable[MAIL_SERVER] = "the mail server got no mail while the requests ran"
        mailbox.stop()
        mail_delivery.stop(app)
        app.config["MAIL_URL"] = None


def forgot_case(name: str, fixture: Fixture, address: str) -> Case:
    """``POST /password/forgot`` for ``address``."""
    return Case(name, fixture.app, environ("/password/forgot", body={"email": address}), 202)


def forgot_cases(fixture: Fixture) -> list[Case]:
    """``POST /password/forgot`` for a verified address and for one no account has."""
    return [
        forgot_case("forgot_known", fixture, fixture.verified_address),
        forgot_case("forgot_unknown", fixture, "nobody@example.test"),
    ]


def signup_case(app: Flask) -> Case:
    """``POST /signup`` under ``SIGNUP_POLICY=open``: a new name and address each request."""
    numbers = itertools.count()

    def prepare() -> dict:
        name = f"joiner-{next(numbers)}"
        body = {"username": name, "email": f"{name}@example.test", "password": PASSWORD}
        return environ("/signup", body=body)()

    return Case("signup_open", app, prepare, 202, batch=1, every=3)


def in_process_cases(
    main: Fixture, large: Fixture, plain: Flask, peer: Flask, peer_token: str
) -> list[Case]:
    """Every case the issue lists; ``large`` differs from ``main`` in its user and event counts.

    ``flask`` is the floor (the same JSON from a plain Flask app), ``peer_me`` the
    Flask-JWT-Extended peer's ``GET /me``; ``me_pat`` joins once personal access tokens exist.
    """
    app, t = main.app, main.tokens
    notes = "/notes?page=1&per_page=20"
    pat = [Case("me_pat", app, environ("/me", t["pat"]), 200)] if "pat" in t else []
    return [
        Case("flask", plain, environ(BARE_PATH), 200),
        Case("bare", app, environ(BARE_PATH), 200),
        Case("health", app, environ("/health"), 200),
        Case("me_valid", app, environ("/me", t["valid"]), 200),
        *pat,
        dpop_me_case(app, "reader"),
        Case("peer_me", peer, environ(PEER_ME_PATH, peer_token), 200),
        Case("me_forged", app, environ("/me", t["forged"]), 401),
        Case("me_expired", app, environ("/me", t["expired"]), 401),
        Case("me_unknown_key", app, environ("/me", t["unknown_key"]), 401),
        Case("me_no_header", app, environ("/me"), 401),
        Case("me_revoked", app, environ("/me", t["revoked"]), 401),
        Case("notes_10000", app, environ(notes, t["valid"]), 200),
        Case("notes_10", app, environ(notes, t["few_notes"]), 200),
        Case("me_valid_1m_users", large.app, environ("/me", large.tokens["valid"]), 200),
        audit_case("audit_user_1k", main),
        audit_case("audit_user_1m", large),
        login_case("login", app, "reader", PASSWORD, 200),
        passkey_login_case(app, "reader"),
        login_case("login_1m_events", large.app, "reader", PASSWORD, 200),
        login_case("login_unknown_user", app, "nobody", PASSWORD, 401),
        login_case("login_wrong_password", app, "reader", PASSWORD + "!", 401),
        login_case("login_deactivated", app, "inactive", PASSWORD, 401),
        refresh_case(main),
        verify_case(app),
        hash_case(app),
        *forgot_cases(main),
        signup_case(app),
    ]


class QueryCounter:
    """Count the statements the engines send (Tessera's apps' and the peer's) during a case.

    They are recorded on the DBAPI connections (``support.statements``), so a statement run
    on a raw cursor counts as much as one Core runs; on SQLite their parameters are in the
    text. Each case's statements are also kept, grouped by the transaction that sent them
    (Core's commit or rollback event ends one), in ``transactions``. Nothing is recorded
    outside ``during``: the measured rounds run without a recorder.
    """

    def __init__(self, engines: list[Engine]) -> None:
        self.engines = engines
        self.transactions: dict[str, list[list[str]]] = {}
        self._current: list[list[str]] = [[]]

    def _record(self, statement: str) -> None:
        self._current[-1].append(" ".join(statement.split()))

    def _end(self, connection) -> None:
        if self._current[-1]:
            self._current.append([])

    def during(self, case: Case) -> int:
        self._current = [[]]
        with ExitStack() as stack:
            for engine in self.engines:
                stack.enter_context(StatementRecorder(engine, self._record))
                for name in ("commit", "rollback"):
                    event.listen(engine, name, self._end)
                    stack.callback(event.remove, engine, name, self._end)
            case.run_once()
        self.transactions[case.name] = [t for t in self._current if t]
        return sum(len(t) for t in self._current)


def measure(cases: list[Case], rounds: int, scale: float, seed_value: int) -> dict[str, list]:
    """Run the cases interleaved, in a new shuffled order each round.

    In a round each case makes a small batch of requests and keeps their median, so a burst
    of load from elsewhere on the machine spoils one round of a few cases, not a whole case.
    Slow cases (a password hash each) take part in every ``every``-th round only.
    """
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    shuffle = random.Random(seed_value).shuffle
    for number in range(rounds):
        order = [case for case in cases if number % case.every == 0]
        shuffle(order)
        gc.collect()
        gc.disable()
        try:
            for case in order:
                count = max(1, round(case.batch * scale))
                times = [case.run_once() for _ in range(count)]
                samples[case.name].append(statistics.median(times))
        finally:
            gc.enable()
    return samples


def measure_beside_slow_mail(fixture: Fixture, requests: int = 30) -> list[float]:
    """``POST /password/forgot`` for the verified address while the app's sender thread
    delivers each mail to a server that takes ``MAIL_SERVER_DELAY`` over it: each request's
    duration. A phase of its own, after the rounds: the sender's and the server's threads
    would otherwise take the interpreter's lock from the cases measured beside them."""
    case = forgot_case("forgot_slow_mail", fixture, fixture.verified_address)
    with slow_mail_server(fixture):
        return [case.run_once() for _ in range(requests)]


def argon2_calls(case: Case) -> dict[str, int]:
    """Run ``case`` once; return how many Argon2 hashes and verifications the app made."""
    calls: collections.Counter[str] = collections.Counter()
    hashing = passwords.PasswordHashing
    originals = {name: getattr(hashing, name) for name in ("hash", "verify")}

    def counted(name: str) -> Callable[..., Any]:
        def call(self, *args: Any) -> Any:
            calls[name] += 1
            return originals[name](self, *args)

        return call

    try:
        for name in originals:
            setattr(hashing, name, counted(name))
        case.run_once()
    finally:
        for name, original in originals.items():
            setattr(hashing, name, original)
    return {"hash": calls["hash"], "verify": calls["verify"]}
