"""``POST /account/secure``: the link of a security notice ends every session and PAT."""

from __future__ import annotations

from api.auth import blp
from api.auth.signup import TokenSchema
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.services import account_securing


@blp.route("/account/secure", methods=["POST"])
@raises(400)
@blp.arguments(TokenSchema)
@blp.response(204)
def secure_account(body):
    """Secure the account a notice was about: every session and PAT of the user ends."""
    account_securing.secure_account(body["token"], origin=request_origin())
