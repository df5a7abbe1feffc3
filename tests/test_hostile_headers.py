"""Hostile Authorization headers: every one is a clean 401, on every protected route.

A header that offers no bearer credentials gets the plain challenge; a bearer header that is
refused names ``invalid_token`` (RFC 6750, section 3.1). A property test then feeds the
request loader any string at all.
"""

from __future__ import annotations

import base64
import json

from flask import g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.accounts import PASSWORD
from support.routes import protected_routes
from werkzeug.test import EnvironBuilder

from api import create_app
from api.credentials import signed_tokens
from api.database import db
from api.security import Principal, load_principal

PLAIN = 'Bearer realm="api"'
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _flip(token: str, index: int) -> str:
    """Change the character at ``index`` to another of the token alphabet."""
    char = token[index]
    return token[:index] + ("B" if char == "A" else "A") + token[index + 1 :]


def _alg_none_jwt(user_id: int) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"uid": user_id, "sid": "x", "admin": True}).encode())
    return f"{header}.{payload}."


def _corpus(app, alice, clock) -> dict[str, tuple[str, str]]:
    """Each case: the header, and the challenge it must get (plain or invalid_token)."""
    token = alice.access_token
    kind, kid, signed = token.split(".", 2)
    payload, timestamp, signature = signed.split(".")
    stranger = signed_tokens.TokenCodec(["another-secret-" * 4], 900, 3600)
    forged = stranger.issue(signed_tokens.ACCESS, signed_tokens.Claims(alice.user_id, "x")).split(
        ".", 2
    )[2]
    with app.app_context():
        clock.shift(-3600)
        expired = signed_tokens.codec().issue(
            signed_tokens.ACCESS, signed_tokens.Claims(alice.user_id, "x")
        )
        clock.shift(3600)
    cases = {
        "empty": ("", PLAIN),
        "blank": ("   ", PLAIN),
        "basic": ("Basic " + _b64(f"alice:{PASSWORD}".encode()), PLAIN),
        "digest": ('Digest username="alice", response="x"', PLAIN),
        "token scheme": (f"Token {token}", PLAIN),
        "naive user:password": (f"alice:{PASSWORD}", PLAIN),
        "lookalike scheme": (f"B\u0435arer {token}", PLAIN),
        "scheme only": ("Bearer", INVALID_TOKEN),
        "scheme and space": ("Bearer ", INVALID_TOKEN),
        "lower-case scheme only": ("bearer", INVALID_TOKEN),
        "no space": (f"Bearer{token}", INVALID_TOKEN),
        "two spaces": (f"Bearer  {token}", INVALID_TOKEN),
        "tab": (f"Bearer\t{token}", INVALID_TOKEN),
        "trailing space": (f"Bearer {token} ", INVALID_TOKEN),
        "two tokens": (f"Bearer {token} {token}", INVALID_TOKEN),
        "two credentials": (f"Bearer {token}, Bearer {token}", INVALID_TOKEN),
        "comma-joined tokens": (f"Bearer {token},{token}", INVALID_TOKEN),
        "nul before": (f"Bearer \x00{token}", INVALID_TOKEN),
        "nul after": (f"Bearer {token}\x00", INVALID_TOKEN),
        "non-ascii": ("Bearer t\u00f6k\u00e9n", INVALID_TOKEN),
        "non-ascii suffix": (f"Bearer {token}\u00e9", INVALID_TOKEN),
        "10 KB": ("Bearer " + "A" * 10240, INVALID_TOKEN),
        "10 KB after a valid token": (f"Bearer {token}" + "A" * 10240, INVALID_TOKEN),
        "jwt alg none": (f"Bearer {_alg_none_jwt(alice.user_id)}", INVALID_TOKEN),
        "another key": (f"Bearer {kind}.{stranger.signing_key_id}.{forged}", INVALID_TOKEN),
        "another key, our key id": (f"Bearer {kind}.{kid}.{forged}", INVALID_TOKEN),
        "flipped payload": (f"Bearer {_flip(token, len(kind) + len(kid) + 5)}", INVALID_TOKEN),
        "flipped timestamp": (
            f"Bearer {kind}.{kid}.{payload}.{_flip(timestamp, 2)}.{signature}",
            INVALID_TOKEN,
        ),
        "flipped signature": (f"Bearer {_flip(token, len(token) - 6)}", INVALID_TOKEN),
        "truncated": (f"Bearer {token[:-1]}", INVALID_TOKEN),
        "half": (f"Bearer {token[: len(token) // 2]}", INVALID_TOKEN),
        "signature dropped": (f"Bearer {kind}.{kid}.{payload}.{timestamp}", INVALID_TOKEN),
        "fourth segment": (f"Bearer {token}.{signature}", INVALID_TOKEN),
        "unknown kind": (f"Bearer xx.{kid}.{signed}", INVALID_TOKEN),
        "refresh token": (f"Bearer {alice.refresh_token}", INVALID_TOKEN),
        "expired": (f"Bearer {expired}", INVALID_TOKEN),
        "naive bearer user:password": (f"Bearer alice:{PASSWORD}", INVALID_TOKEN),
        "naive bearer username": ("Bearer alice", INVALID_TOKEN),
        "dots only": ("Bearer ...", INVALID_TOKEN),
        "padding only": ("Bearer ==", INVALID_TOKEN),
        "sql": ("Bearer ' OR '1'='1", INVALID_TOKEN),
    }
    return cases


CASE_IDS = [
    "empty", "blank", "basic", "digest", "token scheme", "naive user:password",
    "lookalike scheme", "scheme only", "scheme and space", "lower-case scheme only", "no space",
    "two spaces", "tab", "trailing space", "two tokens", "two credentials",
    "comma-joined tokens", "nul before", "nul after", "non-ascii", "non-ascii suffix", "10 KB",
    "10 KB after a valid token", "jwt alg none", "another key", "another key, our key id",
    "flipped payload", "flipped timestamp", "flipped signature", "truncated", "half",
    "signature dropped", "fourth segment", "unknown kind", "refresh token", "expired",
    "naive bearer user:password", "naive bearer username", "dots only", "padding only", "sql",
]  # fmt: skip


def test_the_corpus_has_at_least_30_cases(app, alice, clock):
    assert len(CASE_IDS) >= 30
    assert sorted(_corpus(app, alice, clock)) == sorted(CASE_IDS)


def _wrong_answer(response, challenge: str) -> str | None:
    """Say what is wrong with the answer to a hostile header, or None if it is right."""
    if response.status_code != 401:
        return f"status {response.status_code}"
    if response.content_type != "application/problem+json":
        return f"content type {response.content_type}"
    body = response.get_json()
    if body["status"] != 401 or body["title"] != "Unauthorized":
        return f"body {body}"
    sent = response.headers.get("WWW-Authenticate")
    if challenge == PLAIN and sent != PLAIN:
        return f"challenge {sent!r}"
    named = f'{INVALID_TOKEN}, error_description="{body.get("detail")}"'
    if challenge == INVALID_TOKEN and sent != named:
        return f"challenge {sent!r}"
    if "Set-Cookie" in response.headers:
        return "a cookie"
    return None


def test_every_hostile_authorization_header_is_a_clean_401_on_every_protected_route(
    app, client, clock, alice
):
    wrong = []
    for case, (header, challenge) in _corpus(app, alice, clock).items():
        for method, path in protected_routes():
            # environ_overrides: the header reaches the app byte for byte, NUL and all. No
            # body is sent, so a 401 also shows authentication runs before parsing.
            response = client.open(
                path, method=method, environ_overrides={"HTTP_AUTHORIZATION": header}
            )
            problem = _wrong_answer(response, challenge)
            if problem:
                wrong.append(f"{case}: {method} {path}: {problem}")
    assert wrong == []


def test_the_valid_token_of_the_corpus_opens_every_route(client, alice):
    # The corpus is refused for its defects, not because alice's token never worked.
    assert client.get("/me", headers=alice.headers).status_code == 200


def test_query_string_token_is_ignored_by_default(client, alice):
    for name in ("token", "access_token", "api_key"):
        response = client.get(f"/me?{name}={alice.access_token}")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == PLAIN


def test_query_string_token_works_only_under_the_configured_name(config, tmp_path, alice):
    app = create_app({**config, "TOKEN_QUERY_PARAM": "access_token"}, str(tmp_path / "qs"))
    client = app.test_client()
    assert client.get(f"/me?access_token={alice.access_token}").status_code == 200
    other_name = client.get(f"/me?token={alice.access_token}")
    assert other_name.status_code == 401
    assert other_name.headers["WWW-Authenticate"] == PLAIN
    refused = client.get(f"/me?access_token={alice.refresh_token}")
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# Any text, any latin-1 byte string (what a WSGI server hands over), and strings of the
# bearer grammar: the loader returns a user or None, and never raises.
# The app fixture is built once per test, not per example: nothing here changes its state.
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HEADERS = st.one_of(
    st.text(),
    st.binary().map(lambda raw: raw.decode("latin-1")),
    st.from_regex(r"[Bb]earer +[A-Za-z0-9._~+/-]+=*", fullmatch=True),
    st.from_regex(r"Bearer (at|rt)\.[0-9a-f]{8}\.[A-Za-z0-9_.-]{0,120}", fullmatch=True),
)


@PROPERTY
@given(header=HEADERS)
def test_request_loader_refuses_any_string_cleanly(app, header):
    environ = EnvironBuilder(path="/me").get_environ()
    environ["HTTP_AUTHORIZATION"] = header
    with app.request_context(environ):
        principal = load_principal(app.request_class(environ))
        assert principal is None or isinstance(principal, Principal)
        assert principal is None  # no string here is alice's token
        assert g.get("token_refusal") is None or isinstance(g.token_refusal, str)


@PROPERTY
@given(index=st.integers(min_value=0), char=st.sampled_from("ABab019_-.=+/~ \x00\u00e9"))
def test_a_mutated_real_token_yields_its_user_or_a_clean_refusal(app, alice, index, char):
    token = alice.access_token
    index %= len(token)
    mutated = token[:index] + char + token[index + 1 :]
    environ = EnvironBuilder(path="/me").get_environ()
    environ["HTTP_AUTHORIZATION"] = f"Bearer {mutated}"
    with app.request_context(environ):
        principal = load_principal(app.request_class(environ))
        # Base64 leaves the last character's low bits unused, so a few changes there still
        # decode to the same signature: those may open the session; nothing else may.
        assert principal is None or principal.id == alice.user_id
        if principal is None:
            assert isinstance(g.token_refusal, str)


@PROPERTY
@given(token=HEADERS)
def test_token_verifier_raises_only_token_errors(app, token):
    with app.app_context():
        for kind in (signed_tokens.ACCESS, signed_tokens.REFRESH):
            try:
                signed_tokens.codec().verify(kind, token)
            except signed_tokens.TokenError as exc:
                assert isinstance(exc.reason, str) and exc.reason
