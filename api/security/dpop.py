"""DPoP at the request's edge (RFC 9449): a request's proof checked, its key compared with the
token's, its ``jti`` recorded.

Two kinds of request carry proofs. A resource request with ``Authorization: DPoP <token>``:
the loader checks its proof before the database (``resource_proof``), then, with the token's
row at hand, compares the row's key and records the proof (``binding_refusal``), each refusal a
401 with the DPoP challenge. And a token endpoint (``/login``, ``/login/mfa``, ``/refresh``,
``POST /tokens``): ``token_endpoint_key`` checks and records the ``DPoP`` header's proof before
the use case runs, so that a refused proof spends nothing, and hands the use case the key's
thumbprint, a plain value; its refusal is 400 ``invalid_dpop_proof``.
"""

from __future__ import annotations

import time

from flask import Request, current_app, g

from api.credentials import dpop_proofs, jti_replay
from api.credentials.dpop_proofs import Proof, ProofError
from api.errors import INVALID_DPOP_PROOF, InvalidDpopProof
from api.http.public_url import request_url

INVALID_TOKEN = "invalid_token"  # noqa: S105 (an RFC 6750 error code, not a secret)
NO_PROOF = "DPoP proof missing"
REPLAYED = "DPoP proof already used"


def proof_header(request: Request) -> str | None:
    """The request's ``DPoP`` header (repeated ones joined with commas), or None."""
    return request.environ.get("HTTP_DPOP")


def checked_proof(request: Request, access_token: str | None, *, ath_required: bool) -> Proof:
    """Check the request's proof without the database (everything but its ``jti``'s
    replay); raise ``ProofError``."""
    header = proof_header(request)
    if header is None:
        raise ProofError(NO_PROOF)
    return dpop_proofs.check(
        header,
        request.method,
        request_url(request),
        time.time(),
        int(current_app.config["DPOP_MAX_AGE"]),
        access_token,
        ath_required=ath_required,
    )


def resource_proof(request: Request, access_token: str) -> Proof:
    """Check the proof of a request made with the DPoP scheme, ``ath`` included, and keep it
    for the rest of the request (``binding_refusal``, ``POST /tokens``)."""
    proof = checked_proof(request, access_token, ath_required=True)
    g.dpop_proof = proof
    return proof


def binding_refusal(bound_jkt: str | None) -> tuple[str, str] | None:
    """Compare the token row's key (``bound_jkt``, None when unbound) with the request's
    scheme and proof, then record the proof; return the refusal's error and reason, or None.

    A bound token needs the DPoP scheme and a proof of its key; an unbound one, the bearer
    scheme. A bound token sent as a bearer token is answered with the DPoP challenge.
    """
    proof: Proof | None = g.get("dpop_proof")
    if proof is None:
        if bound_jkt is None:
            return None
        g.dpop_challenge = True
        return INVALID_TOKEN, "DPoP-bound token sent as a bearer token"
    if bound_jkt is None:
        return INVALID_TOKEN, "token not bound to a DPoP key"
    if proof.jkt != bound_jkt:
        return INVALID_TOKEN, "DPoP proof of another key"
    if not jti_replay.first_use(proof):
        return INVALID_DPOP_PROOF, REPLAYED
    return None


def token_endpoint_key(
    request: Request, *, new_credential: bool, bearer_token: str | None = None
) -> str | None:
    """Check and record the proof a token endpoint request carries; return its key's
    thumbprint, or None when it carries none. Raise ``InvalidDpopProof`` (400) for a refused
    proof, and for none at all where ``DPOP_REQUIRED`` asks every ``new_credential`` for one.

    A proof the loader checked already (``POST /tokens`` from a DPoP-bound session) counts as
    it is. With ``bearer_token`` (``POST /tokens`` from an unbound session), the proof's
    ``ath``, if it has one, must be that token's hash.
    """
    checked: Proof | None = g.get("dpop_proof")
    if checked is not None:
        return checked.jkt
    if proof_header(request) is None:
        if new_credential and current_app.config["DPOP_REQUIRED"]:
            raise InvalidDpopProof("a DPoP proof is required (DPOP_REQUIRED)")
        return None
    try:
        proof = checked_proof(request, bearer_token, ath_required=False)
    except ProofError as refused:
        raise InvalidDpopProof(refused.reason) from None
    if not jti_replay.first_use(proof):
        raise InvalidDpopProof(REPLAYED)
    return proof.jkt
