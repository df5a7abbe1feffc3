"""DPoP proofs checked without any request or database: one test per check of RFC 9449
section 4.3, in its order, with proofs signed by real ES256, EdDSA, RS256 and PS256 keys."""

from __future__ import annotations

import time

import pytest
from support.dpop import DpopKey, unsigned

from api.credentials import dpop_proofs
from api.credentials.dpop_proofs import LEEWAY, ProofError, access_token_hash

URL = "http://localhost/me"
MAX_AGE = 60
TOKEN = "at.0123abcd.some-access-token"


@pytest.fixture(scope="module")
def key() -> DpopKey:
    return DpopKey("ES256")


def check(proof: str, method: str = "GET", url: str = URL, token: str | None = TOKEN, **kw):
    return dpop_proofs.check(proof, method, url, kw.pop("now", time.time()), MAX_AGE, token, **kw)


def refused(proof: str, **kwargs) -> str:
    with pytest.raises(ProofError) as caught:
        check(proof, **kwargs)
    return caught.value.reason


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
def test_a_proof_of_each_allowed_algorithm_is_accepted_and_names_its_key(alg):
    client = DpopKey(alg)
    proof = client.proof("GET", URL, TOKEN, jti="one")
    accepted = check(proof)
    assert accepted.jkt == client.thumbprint
    assert accepted.jti == "one"
    assert len(accepted.jkt) == 43  # a SHA-256, base64url without padding


def test_an_rsa_proof_carries_a_header_longer_than_joserfcs_default_limit():
    proof = DpopKey("RS256").proof("GET", URL, TOKEN)
    header = proof.split(".")[0]
    assert len(header) > 512
    check(proof)


def test_two_dpop_headers_are_refused(key):  # step 1
    proof = key.proof("GET", URL, TOKEN)
    assert refused(f"{proof}, {proof}") == "more than one DPoP header"


@pytest.mark.parametrize("value", ["", "abc", "a.b", "a.b.c.d", "a.b.c", "x" * 9000 + ".a.b"])
def test_a_value_that_is_no_jwt_is_refused(value):  # step 2
    assert refused(value) == "DPoP proof is not a JWT"


@pytest.mark.parametrize("missing", ["typ", "jwk", "jti", "htm", "htu", "iat", "ath"])
def test_a_proof_without_a_required_member_is_refused(key, missing):  # step 3
    proof = key.proof("GET", URL, TOKEN, drop=(missing,))
    assert refused(proof) == f"DPoP proof has no {missing}"


def test_a_proof_without_alg_is_refused(key):  # step 3
    proof = unsigned({"typ": "dpop+jwt", "jwk": key.public_jwk}, {"jti": "x"}, b"sig")
    assert refused(proof) == "DPoP proof is not a JWT"  # joserfc refuses a JWS without alg


def test_a_proof_with_an_iat_that_is_no_number_is_refused(key):
    assert refused(key.proof("GET", URL, TOKEN, iat="now")) == "DPoP proof has no iat"
    assert refused(key.proof("GET", URL, TOKEN, iat=True)) == "DPoP proof has no iat"


def test_ath_is_not_required_without_an_access_token(key):
    check(key.proof("GET", URL), token=None)


def test_a_proof_of_another_type_is_refused(key):  # step 4
    assert refused(key.proof("GET", URL, TOKEN, typ="JWT")) == "DPoP proof typ is not dpop+jwt"


@pytest.mark.parametrize("alg", ["none", "HS256", "ES384", "RS512", "ES256K"])
def test_an_algorithm_outside_the_allow_list_is_refused(key, alg):  # step 5
    proof = key.proof("GET", URL, TOKEN, alg=alg)
    assert refused(proof) == "DPoP proof alg not allowed"


def test_an_hmac_proof_is_refused():  # step 5: symmetric
    assert refused(DpopKey("HS256").proof("GET", URL, TOKEN)) == "DPoP proof alg not allowed"


def test_a_proof_whose_key_does_not_fit_its_alg_is_refused(key):  # step 5
    eddsa = DpopKey("EdDSA")
    proof = key.proof("GET", URL, TOKEN, header_jwk=eddsa.public_jwk)
    assert refused(proof) == "DPoP proof jwk does not fit its alg"


def test_a_proof_with_a_small_rsa_key_is_refused():  # step 5: local policy
    from joserfc import jwk
    from joserfc.errors import SecurityWarning

    with pytest.warns(SecurityWarning):  # joserfc warns the client too
        small = DpopKey("RS256", key=jwk.generate_key("RSA", 1024))
    assert refused(small.proof("GET", URL, TOKEN)) == "DPoP proof jwk is too small a key"


def test_a_proof_with_a_bad_signature_is_refused(key):  # step 6
    other = DpopKey("ES256")
    proof = other.proof("GET", URL, TOKEN, header_jwk=key.public_jwk)
    assert refused(proof) == "DPoP proof signature is invalid"


def test_a_proof_with_a_changed_claim_is_refused(key):  # step 6
    header, _, signature = key.proof("GET", URL, TOKEN).split(".")
    forged = unsigned({}, {"jti": "x", "htm": "GET", "htu": URL, "iat": int(time.time())})
    assert refused(f"{header}.{forged.split('.')[1]}.{signature}") == (
        "DPoP proof has no ath"  # the forged payload lacks it: refused before the signature
    )
    payload = unsigned(
        {},
        {
            "jti": "x",
            "htm": "GET",
            "htu": URL,
            "iat": int(time.time()),
            "ath": access_token_hash(TOKEN),
        },
    ).split(".")[1]
    assert refused(f"{header}.{payload}.{signature}") == "DPoP proof signature is invalid"


@pytest.mark.parametrize("private_alg", ["ES256", "EdDSA", "RS256"])
def test_a_proof_carrying_a_private_key_is_refused(private_alg):  # step 7
    client = DpopKey(private_alg)
    proof = client.proof("GET", URL, TOKEN, header_jwk=client.key.as_dict(private=True))
    assert refused(proof) == "DPoP proof jwk is not a public key"


def test_a_proof_for_another_method_is_refused(key):  # step 8
    assert refused(key.proof("POST", URL, TOKEN)) == "DPoP proof htm does not match the method"


@pytest.mark.parametrize(
    "htu",
    [
        "http://localhost/notes",
        "https://localhost/me",
        "http://evil.example/me",
        "http://localhost:8080/me",
        "http://user@localhost/me",
        "ftp://localhost/me",
        "not a url",
    ],
)
def test_a_proof_for_another_url_is_refused(key, htu):  # step 9
    assert refused(key.proof("GET", htu, TOKEN)) == "DPoP proof htu does not match the URL"


@pytest.mark.parametrize(
    "htu",
    [
        "HTTP://LocalHost/me",
        "http://localhost:80/me",
        "http://localhost/me?x=1",
        "http://localhost/%6De",
    ],
)
def test_htu_is_compared_as_rfc_3986_normalises_it(key, htu):  # step 9
    check(key.proof("GET", htu, TOKEN))


def test_htu_compares_the_default_port_of_https_too(key):
    check(
        key.proof("GET", "https://api.example.com:443/me", TOKEN), url="https://api.example.com/me"
    )


def test_a_proof_too_old_is_refused(key):  # step 11
    now = time.time()
    old = key.proof("GET", URL, TOKEN, iat=int(now) - MAX_AGE - LEEWAY - 1)
    assert refused(old, now=int(now)) == "DPoP proof is too old"
    check(key.proof("GET", URL, TOKEN, iat=int(now) - MAX_AGE), now=int(now))


def test_a_proof_from_the_future_is_refused_beyond_the_leeway(key):  # step 11
    now = int(time.time())
    future = key.proof("GET", URL, TOKEN, iat=now + LEEWAY + 1)
    assert refused(future, now=now) == "DPoP proof iat is in the future"
    check(key.proof("GET", URL, TOKEN, iat=now + LEEWAY), now=now)


def test_a_proof_for_another_access_token_is_refused(key):  # step 12
    proof = key.proof("GET", URL, "another token")
    assert refused(proof) == "DPoP proof ath does not match the access token"


def test_ath_is_checked_when_present_even_if_not_required(key):
    proof = key.proof("GET", URL, "another token")
    with pytest.raises(ProofError):
        check(proof, ath_required=False)
    check(key.proof("GET", URL), ath_required=False)


def test_the_checks_come_in_the_rfcs_order(key):
    """A proof wrong in many ways is refused for the first check of section 4.3 it fails."""
    other = DpopKey("ES256")
    proof = other.proof("POST", "http://evil/", "x", typ="JWT", iat=0, header_jwk=key.public_jwk)
    assert refused(proof) == "DPoP proof typ is not dpop+jwt"
    proof = other.proof("POST", "http://evil/", "x", iat=0, header_jwk=key.public_jwk)
    assert refused(proof) == "DPoP proof signature is invalid"
    proof = key.proof("POST", "http://evil/", "x", iat=0)
    assert refused(proof) == "DPoP proof htm does not match the method"
    proof = key.proof("GET", "http://evil/", "x", iat=0)
    assert refused(proof) == "DPoP proof htu does not match the URL"
    assert refused(key.proof("GET", URL, "x", iat=0)) == "DPoP proof is too old"


def test_the_replay_record_outlives_every_proof_the_window_admits(key):
    now = int(time.time())
    accepted = check(key.proof("GET", URL, TOKEN, iat=now), now=now)
    assert accepted.expires_at == now + MAX_AGE + LEEWAY
