"""Hostile DPoP proofs, made by hypothesis: every one gets a clean 400 or 401, never a 5xx.

Proofs are signed by a real key with any header parameter or claim replaced by any JSON value,
or are any text at all; at a resource (``GET /me`` with a bound token) and at a token endpoint
(``POST /login``).
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.accounts import PASSWORD
from support.dpop import DpopKey, dpop_headers, sign, unsigned

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEY = DpopKey("ES256")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
HEADER_MEMBERS = ["typ", "alg", "jwk", "crit", "b64", "kid", "x5c"]
CLAIMS = ["jti", "htm", "htu", "iat", "ath", "nonce"]
printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=600)


@pytest.fixture
def bound(client, make_user):
    make_user("alice")
    answer = client.post(
        "/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"DPoP": KEY.proof("POST", "/login")},
    )
    assert answer.status_code == 200
    return answer.get_json()["access_token"]


def mutated(method: str, path: str, token: str | None, data) -> str:
    """A proof of ``KEY`` for the request, one header member or claim replaced."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": KEY.public_jwk}
    valid = KEY.proof(method, path, token)  # for its claims
    payload = json.loads(urlsafe_b64decode(valid.split(".")[1] + "=="))
    where = data.draw(st.sampled_from(["header", "claims"]))
    target = header if where == "header" else payload
    name = data.draw(st.sampled_from(HEADER_MEMBERS if where == "header" else CLAIMS))
    target[name] = data.draw(json_values)
    if data.draw(st.booleans()):
        return sign(header, payload, KEY.key)
    return unsigned(header, payload, data.draw(st.binary(max_size=80)))


@FUZZ
@given(data=st.data())
def test_any_mutated_proof_at_a_resource_is_answered_cleanly(client, bound, data):
    proof = mutated("GET", "/me", bound, data)
    answer = client.get("/me", headers=dpop_headers(bound, proof))
    assert answer.status_code in (200, 401), answer.get_data(as_text=True)
    if answer.status_code == 401:
        assert answer.headers["WWW-Authenticate"].startswith("DPoP algs=")
        assert answer.content_type == "application/problem+json"


@FUZZ
@given(data=st.data())
def test_any_mutated_proof_at_login_is_answered_cleanly(client, bound, data):
    proof = mutated("POST", "/login", None, data)
    answer = client.post(
        "/login", json={"username": "alice", "password": PASSWORD}, headers={"DPoP": proof}
    )
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    if answer.status_code == 400:
        assert answer.get_json()["error"] == "invalid_dpop_proof"


@FUZZ
@given(value=printable)
def test_any_text_as_a_proof_is_answered_cleanly(client, bound, value):
    answer = client.get("/me", headers=dpop_headers(bound, value))
    assert answer.status_code == 401
    assert 'error="invalid_dpop_proof"' in answer.headers["WWW-Authenticate"]
