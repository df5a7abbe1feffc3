"""Sender-constrained tokens (RFC 9449) through the endpoints: sessions, refreshes, second
steps and personal access tokens bound to a client's key, and every refusal's shape."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from support.accounts import PASSWORD, totp_code
from support.dpop import DpopKey, dpop_headers

from api.credentials.jti_replay import PRUNE_EVERY, DatabaseRecords
from api.database import db
from api.errors import DPOP_CHALLENGE
from api.models import SeenDpopProof

CHALLENGE_START = 'DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"'


@pytest.fixture
def key() -> DpopKey:
    return DpopKey("ES256")


@pytest.fixture
def other_key() -> DpopKey:
    return DpopKey("EdDSA")


def dpop_login(client, key: DpopKey, username: str = "alice", **extra):
    return client.post(
        "/login",
        json={"username": username, "password": PASSWORD, **extra},
        headers={"DPoP": key.proof("POST", "/login")},
    )


@pytest.fixture
def bound(client, make_user, key) -> dict:
    """alice's token pair, bound to ``key``."""
    make_user("alice")
    answer = dpop_login(client, key)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def me(client, key: DpopKey, token: str, **proof_options):
    proof = key.proof("GET", "/me", token, **proof_options)
    return client.get("/me", headers=dpop_headers(token, proof))


def refusal(answer) -> tuple[int, str]:
    """The status and the challenge's error of a 401 (or a 400's ``error``)."""
    if answer.status_code == 400:
        assert answer.content_type == "application/problem+json"
        return 400, answer.get_json()["error"]
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith(CHALLENGE_START), challenge
    return answer.status_code, challenge.split('error="')[1].split('"')[0]


def test_a_login_with_a_proof_binds_the_session_to_its_key(client, bound, key):
    assert bound["token_type"] == "DPoP"
    answer = me(client, key, bound["access_token"])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["token_type"] == "DPoP"
    sessions = client.get(
        "/sessions",
        headers=dpop_headers(
            bound["access_token"], key.proof("GET", "/sessions", bound["access_token"])
        ),
    )
    assert [item["dpop_bound"] for item in sessions.get_json()["items"]] == [True]


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "PS256"])
def test_every_allowed_algorithm_binds_a_session(client, make_user, alg):
    make_user("alice")
    key = DpopKey(alg)
    pair = dpop_login(client, key).get_json()
    assert pair["token_type"] == "DPoP"
    assert me(client, key, pair["access_token"]).status_code == 200


def test_a_login_without_a_proof_stays_a_bearer_login(client, alice):
    answer = client.get("/me", headers=alice.headers)
    assert answer.get_json()["token_type"] == "Bearer"
    sessions = client.get("/sessions", headers=alice.headers).get_json()["items"]
    assert [item["dpop_bound"] for item in sessions] == [False]


def test_a_bound_token_sent_as_bearer_is_refused_with_the_dpop_challenge(client, bound):
    answer = client.get("/me", headers={"Authorization": f"Bearer {bound['access_token']}"})
    assert refusal(answer) == (401, "invalid_token")
    assert answer.content_type == "application/problem+json"


def test_a_bound_token_with_a_proof_of_another_key_is_refused(client, bound, other_key):
    assert refusal(me(client, other_key, bound["access_token"])) == (401, "invalid_token")


def test_an_unbound_token_sent_with_the_dpop_scheme_is_refused(client, alice, key):
    assert refusal(me(client, key, alice.access_token)) == (401, "invalid_token")


def test_the_dpop_scheme_without_a_proof_is_refused(client, bound):
    answer = client.get("/me", headers={"Authorization": f"DPoP {bound['access_token']}"})
    assert refusal(answer) == (401, "invalid_dpop_proof")


def test_a_proof_without_the_tokens_hash_is_refused(client, bound, key):
    proof = key.proof("GET", "/me")  # no ath
    answer = client.get("/me", headers=dpop_headers(bound["access_token"], proof))
    assert refusal(answer) == (401, "invalid_dpop_proof")
    assert "no ath" in answer.get_json()["detail"]


def test_a_proof_for_another_request_is_refused(client, bound, key):
    token = bound["access_token"]
    for proof in (key.proof("POST", "/me", token), key.proof("GET", "/notes", token)):
        answer = client.get("/me", headers=dpop_headers(token, proof))
        assert refusal(answer) == (401, "invalid_dpop_proof")


def test_a_proof_is_accepted_once(client, bound, key):
    token = bound["access_token"]
    proof = key.proof("GET", "/me", token)
    assert client.get("/me", headers=dpop_headers(token, proof)).status_code == 200
    replayed = client.get("/me", headers=dpop_headers(token, proof))
    assert refusal(replayed) == (401, "invalid_dpop_proof")
    assert replayed.get_json()["detail"] == "DPoP proof already used"


def test_the_same_jti_of_another_key_is_no_replay(client, make_user, key, other_key):
    make_user("alice")
    first = dpop_login(client, key).get_json()
    second = dpop_login(client, other_key).get_json()
    assert me(client, key, first["access_token"], jti="same").status_code == 200
    assert me(client, other_key, second["access_token"], jti="same").status_code == 200


def test_a_refused_proof_costs_no_statement(client, bound, key, queries):
    token = bound["access_token"]
    queries.clear()
    for proof in (
        key.proof("GET", "/me", token, typ="JWT"),
        key.proof("GET", "/me", token, iat=0),
        DpopKey("ES256").proof("GET", "/me", token, header_jwk=key.public_jwk),
    ):
        assert client.get("/me", headers=dpop_headers(token, proof)).status_code == 401
    assert queries == []


def test_a_bound_me_costs_one_statement_more_than_a_bearer_one(
    app, client, bound, key, bob, queries
):
    """One more without Redis (the replay record); none with it, where Redis keeps it."""
    me(client, key, bound["access_token"])  # the first record of a process also prunes
    client.get("/me", headers=bob.headers)
    queries.clear()
    assert client.get("/me", headers=bob.headers).status_code == 200
    bearer = len(queries)
    queries.clear()
    assert me(client, key, bound["access_token"]).status_code == 200
    if app.config["REDIS_URL"]:
        assert len(queries) == bearer
    else:
        assert len(queries) == bearer + 1
        assert "seen_dpop_proofs" in queries[-1].lower()


def test_every_401_to_a_dpop_request_carries_the_dpop_challenge(clock, client, bound, key):
    clock.shift(700)  # past REAUTH_MAX_AGE (600), within the access token's 900 seconds
    token = bound["access_token"]
    answer = client.post(
        "/tokens",
        json={"name": "ci", "scopes": ["notes:read"]},
        headers=dpop_headers(token, key.proof("POST", "/tokens", token)),
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith(DPOP_CHALLENGE)
    assert 'error="insufficient_user_authentication"' in answer.headers["WWW-Authenticate"]


def test_a_bad_proof_at_login_is_400_and_logs_no_one_in(client, make_user, key):
    make_user("alice")
    answer = client.post(
        "/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"DPoP": key.proof("POST", "/refresh")},
    )
    assert refusal(answer) == (400, "invalid_dpop_proof")
    assert "access_token" not in answer.get_json()


def test_a_replayed_proof_at_login_is_400(client, make_user, key):
    make_user("alice")
    proof = key.proof("POST", "/login")
    headers = {"DPoP": proof}
    body = {"username": "alice", "password": PASSWORD}
    assert client.post("/login", json=body, headers=headers).status_code == 200
    assert refusal(client.post("/login", json=body, headers=headers)) == (
        400,
        "invalid_dpop_proof",
    )


def refresh(client, refresh_token: str, key: DpopKey | None = None, **headers):
    if key is not None:
        headers["DPoP"] = key.proof("POST", "/refresh")
    return client.post("/refresh", json={"refresh_token": refresh_token}, headers=headers)


def test_a_bound_session_refreshes_with_a_proof_of_its_key(client, bound, key):
    renewed = refresh(client, bound["refresh_token"], key)
    assert renewed.status_code == 200, renewed.get_json()
    assert renewed.get_json()["token_type"] == "DPoP"
    assert me(client, key, renewed.get_json()["access_token"]).status_code == 200


@pytest.mark.parametrize("with_key", [None, "other"])
def test_a_refused_refresh_of_a_bound_session_spends_nothing(client, bound, key, with_key):
    other = DpopKey("ES256") if with_key else None
    answer = refresh(client, bound["refresh_token"], other)
    assert refusal(answer) == (400, "invalid_dpop_proof")
    # The refresh token was not spent: its owner refreshes with it, and the session lives.
    assert refresh(client, bound["refresh_token"], key).status_code == 200


def test_a_bad_proof_at_refresh_is_400_and_spends_nothing(client, bound, key):
    answer = client.post(
        "/refresh",
        json={"refresh_token": bound["refresh_token"]},
        headers={"DPoP": key.proof("POST", "/login")},
    )
    assert refusal(answer) == (400, "invalid_dpop_proof")
    assert refresh(client, bound["refresh_token"], key).status_code == 200


def test_an_unbound_session_stays_unbound_when_refreshed_with_a_proof(client, alice, key):
    renewed = refresh(client, alice.refresh_token, key)
    assert renewed.status_code == 200
    assert renewed.get_json()["token_type"] == "Bearer"
    access = renewed.get_json()["access_token"]
    assert client.get("/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200


def make_pat(client, headers: dict[str, str]):
    return client.post("/tokens", json={"name": "ci", "scopes": ["notes:read"]}, headers=headers)


def test_a_proof_at_post_tokens_makes_a_bound_personal_token(client, alice, key):
    headers = {**alice.headers, "DPoP": key.proof("POST", "/tokens", alice.access_token)}
    created = make_pat(client, headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["dpop_bound"] is True
    token = created.get_json()["token"]
    notes = client.get("/notes", headers=dpop_headers(token, key.proof("GET", "/notes", token)))
    assert notes.status_code == 200
    assert me(client, key, token).get_json()["token_type"] == "DPoP"
    as_bearer = client.get("/notes", headers={"Authorization": f"Bearer {token}"})
    assert refusal(as_bearer) == (401, "invalid_token")
    listed = client.get("/tokens", headers=alice.headers).get_json()["items"]
    assert [item["dpop_bound"] for item in listed] == [True]


def test_a_bound_session_makes_personal_tokens_bound_to_its_key(client, bound, key, other_key):
    token = bound["access_token"]
    created = make_pat(client, dpop_headers(token, key.proof("POST", "/tokens", token)))
    assert created.status_code == 201, created.get_json()
    pat = created.get_json()["token"]
    assert me(client, key, pat).status_code == 200
    assert refusal(me(client, other_key, pat)) == (401, "invalid_token")


def test_a_proof_for_another_token_at_post_tokens_is_400(client, alice, key):
    headers = {**alice.headers, "DPoP": key.proof("POST", "/tokens", "another token")}
    assert refusal(make_pat(client, headers)) == (400, "invalid_dpop_proof")
    assert client.get("/tokens", headers=alice.headers).get_json()["items"] == []


def test_a_personal_token_without_a_proof_stays_a_bearer_token(client, alice):
    created = make_pat(client, alice.headers).get_json()
    assert created["dpop_bound"] is False


@pytest.fixture
def totp_user(client, make_user, login, enrol) -> str:
    make_user("alice")
    return enrol(login("alice")).secret


def second_step(client, mfa_token: str, secret: str, key: DpopKey | None):
    headers = {"DPoP": key.proof("POST", "/login/mfa")} if key else {}
    body = {"mfa_token": mfa_token, "code": totp_code(secret, 1)}  # enrolment spent this step's
    return client.post("/login/mfa", json=body, headers=headers)


def test_the_second_step_of_a_bound_login_needs_the_same_key(client, totp_user, key, other_key):
    first = dpop_login(client, key)
    assert first.status_code == 401
    mfa_token = first.get_json()["mfa_token"]
    assert refusal(second_step(client, mfa_token, totp_user, None)) == (400, "invalid_dpop_proof")
    assert refusal(second_step(client, mfa_token, totp_user, other_key)) == (
        400,
        "invalid_dpop_proof",
    )
    done = second_step(client, mfa_token, totp_user, key)  # nothing was spent meanwhile
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["token_type"] == "DPoP"
    assert me(client, key, done.get_json()["access_token"]).status_code == 200


def test_a_proof_at_the_second_step_alone_binds_the_session(client, totp_user, mfa_token, key):
    done = second_step(client, mfa_token("alice"), totp_user, key)
    assert done.get_json()["token_type"] == "DPoP"


def test_without_proofs_a_two_step_login_stays_a_bearer_one(client, totp_user, mfa_token):
    done = second_step(client, mfa_token("alice"), totp_user, None)
    assert done.get_json()["token_type"] == "Bearer"


class TestRequired:
    @pytest.fixture
    def config(self, config):
        return {**config, "DPOP_REQUIRED": True}

    def test_a_login_without_a_proof_is_refused(self, client, make_user):
        make_user("alice")
        answer = client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert refusal(answer) == (400, "invalid_dpop_proof")
        assert "access_token" not in answer.get_json()

    def test_a_login_with_a_proof_is_bound(self, bound):
        assert bound["token_type"] == "DPoP"

    def test_a_personal_token_without_a_proof_is_refused(self, client, bound, key, app):
        token = bound["access_token"]
        # A bound session's request carries a proof: its token is bound too.
        created = make_pat(client, dpop_headers(token, key.proof("POST", "/tokens", token)))
        assert created.get_json()["dpop_bound"] is True
        app.config["DPOP_REQUIRED"] = False  # an unbound session made before it was set
        unbound = client.post("/login", json={"username": "alice", "password": PASSWORD})
        app.config["DPOP_REQUIRED"] = True
        headers = {"Authorization": f"Bearer {unbound.get_json()['access_token']}"}
        assert client.get("/me", headers=headers).status_code == 200  # keeps working
        assert refusal(make_pat(client, headers)) == (400, "invalid_dpop_proof")
        renewed = refresh(client, unbound.get_json()["refresh_token"])
        assert renewed.status_code == 200  # and refreshing


class TestPublicUrl:
    @pytest.fixture
    def config(self, config):
        return {**config, "PUBLIC_URL": "https://api.example.com"}

    def test_htu_is_the_public_url_not_the_requests_host(self, client, make_user, key):
        make_user("alice")
        body = {"username": "alice", "password": PASSWORD}
        local = client.post("/login", json=body, headers={"DPoP": key.proof("POST", "/login")})
        assert refusal(local) == (400, "invalid_dpop_proof")
        public = key.proof("POST", "https://api.example.com/login")
        assert client.post("/login", json=body, headers={"DPoP": public}).status_code == 200

    def test_a_proof_for_a_host_the_client_names_in_host_is_refused(self, client, make_user, key):
        make_user("alice")
        proof = key.proof("POST", "http://evil.example/login")
        answer = client.post(
            "/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"DPoP": proof, "Host": "evil.example"},
        )
        assert refusal(answer) == (400, "invalid_dpop_proof")


class TestBehindAProxy:
    @pytest.fixture
    def config(self, config):
        return {**config, "TRUSTED_PROXIES": 1}

    def test_htu_is_the_trusted_hops_forwarded_url(self, client, make_user, key):
        make_user("alice")
        proof = key.proof("POST", "https://api.example.com:8443/login")
        answer = client.post(
            "/login",
            json={"username": "alice", "password": PASSWORD},
            headers={
                "DPoP": proof,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "spoofed.example, api.example.com",
                "X-Forwarded-Port": "8443",
            },
        )
        assert answer.status_code == 200, answer.get_json()


def test_the_openapi_document_shows_the_dpop_scheme_beside_bearer(client):
    document = client.get("/openapi.json").get_json()
    scheme = document["components"]["securitySchemes"]["dpopAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "dpop")
    assert document["paths"]["/me"]["get"]["security"] == [{"bearerAuth": []}, {"dpopAuth": []}]
    problem = document["components"]["schemas"]["Problem"]["properties"]
    assert "error" in problem


def test_a_record_no_proof_needs_any_more_is_taken_over_then_pruned(app):
    with app.app_context():
        records = DatabaseRecords(db.engine)
        assert records.first_use("a", expires_at=100.0, now=50.0)
        assert not records.first_use("a", expires_at=100.0, now=99.0)  # still needed: a replay
        assert records.first_use("a", expires_at=300.0, now=100.0)  # ended: taken over
        assert records.first_use("b", expires_at=150.0, now=100.0)
        records.first_use("c", expires_at=400.0, now=100.0 + PRUNE_EVERY)  # prunes "b"
        keys = db.session.scalars(select(SeenDpopProof.key).order_by(SeenDpopProof.key)).all()
        assert keys == ["a", "c"]
