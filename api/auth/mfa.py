"""``/mfa``: the caller's second factor, TOTP (RFC 6238) and its recovery codes.

Enrolling needs ``mfa:enroll``, which every session token carries (and the only scope of an
enrolment-only session); turning TOTP off and replacing the recovery codes need ``account``.
Starting an enrolment, turning TOTP off and new recovery codes need a fresh login.
"""

from __future__ import annotations

from dataclasses import asdict

from flask_login import current_user
from marshmallow import Schema, fields

from api.auth import blp
from api.credentials.scopes import ACCOUNT, MFA_ENROLL
from api.http import examples
from api.http.blueprint import raises
from api.http.client_info import request_origin
from api.http.fields import TotpCode
from api.security import requires
from api.services import mfa, recovery_codes


class MfaStatusSchema(Schema):
    totp = fields.Boolean(required=True, metadata={"description": "Whether TOTP is on."})
    recovery_codes_left = fields.Integer(required=True)
    passkeys = fields.Integer(
        required=True,
        metadata={"description": "How many passkeys can log in (`GET /passkeys` lists them)."},
    )


class EnrolmentSchema(Schema):
    secret = fields.String(
        required=True,
        metadata={"description": "The TOTP secret (base32), for typing into an authenticator."},
    )
    otpauth_uri = fields.String(
        required=True,
        metadata={"description": "The `otpauth://totp/...` URI an authenticator app reads."},
    )
    qr_svg = fields.String(
        required=True,
        metadata={
            "description": (
                "The QR code of `otpauth_uri`, a standalone SVG document (`<svg ...>`): "
                'show it to the user, e.g. as `<img src="data:image/svg+xml,...">`; '
                "these docs render it under the response."
            )
        },
    )


class ConfirmSchema(Schema):
    code = TotpCode(required=True, metadata={"example": examples.TOTP_CODE})


class RecoveryCodesSchema(Schema):
    recovery_codes = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": "Single-use codes for when the authenticator is lost: shown "
            "only here, keep them somewhere safe."
        },
    )


@blp.route("/mfa", methods=["GET"])
@requires(MFA_ENROLL)
@blp.response(200, MfaStatusSchema)
def get_mfa():
    """Say whether TOTP is on, and how many recovery codes are left."""
    return mfa.status(current_user.id)


@blp.route("/mfa/totp", methods=["POST"])
@requires(MFA_ENROLL, fresh=True)
@raises(409)
@blp.response(200, EnrolmentSchema)
def start_totp_enrolment():
    """Start enrolling TOTP: a new secret, pending until confirmed with a code.

    Replaces an enrolment started before; 409 when TOTP is already on. Scan the QR code (or
    type the secret) into an authenticator app, then send its code to `POST
    /mfa/totp/confirm`.
    """
    enrolment = mfa.start_enrolment(
        current_user.id, current_user.session_id, origin=request_origin(current_user)
    )
    return asdict(enrolment)


@blp.route("/mfa/totp/confirm", methods=["POST"])
@requires(MFA_ENROLL)
@raises(409, 429)
@blp.arguments(ConfirmSchema)
@blp.response(200, RecoveryCodesSchema)
def confirm_totp_enrolment(body):
    """Turn TOTP on with a code of the pending secret; get the recovery codes, once.

    Every other session of the caller ends. A wrong code is 422 and a failed attempt. Of two
    requests with one code one succeeds, the other is 409. An enrolment-only session stays
    one: log in again, with a code, for a full session.
    """
    codes = mfa.confirm_enrolment(
        current_user.id, current_user.session_id, body["code"], origin=request_origin(current_user)
    )
    return {"recovery_codes": codes}


@blp.route("/mfa/totp", methods=["DELETE"])
@requires(ACCOUNT, fresh=True)
@raises(409)
@blp.response(204)
def delete_totp():
    """Turn TOTP off, with its recovery codes; logging in asks for the password alone."""
    mfa.disable_totp(current_user.id, current_user.session_id, origin=request_origin(current_user))


@blp.route("/mfa/recovery-codes", methods=["POST"])
@requires(ACCOUNT, fresh=True)
@raises(409)
@blp.response(200, RecoveryCodesSchema)
def regenerate_recovery_codes():
    """Make a new set of recovery codes, shown once; the old ones stop working.

    409 when TOTP is off, or when another request replaced the set since this one began (a
    double submit): the set that request answered is the live one.
    """
    codes = recovery_codes.regenerate(
        current_user.id, current_user.session_id, origin=request_origin(current_user)
    )
    return {"recovery_codes": codes}
