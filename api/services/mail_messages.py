"""What each mail says, and its link: built from ``EMAIL_LINK_TEMPLATE`` alone.

A link is never built from the request (its ``Host`` or forwarding headers): whoever sends a
request cannot point a mailed token at their own server ("reset poisoning"). The text shows
the link, then the token on a line of its own, for a client that has no page at that link.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import current_app

from api.services import outbox

VERIFY_EMAIL = "verify-email"
ACCEPT_INVITE = "accept-invite"
RESET_PASSWORD = "reset-password"  # noqa: S105 - a link purpose, not a secret
SECURE_ACCOUNT = "secure-account"

# What a notice tells its reader happened to their account.
NOTICES = {
    "password_changed": "Your password was changed.",
    "password_reset": "Your password was reset.",
    "email_changed": "A change of your account's address to another one was asked for.",
    "totp_enabled": "Two-step verification (TOTP) was turned on.",
    "totp_disabled": "Two-step verification (TOTP) was turned off.",
    "recovery_codes_renewed": "New recovery codes were made; the old ones no longer work.",
    "passkey_added": "A passkey was added.",
    "passkey_removed": "A passkey was removed.",
    "personal_token_created": "A personal access token was made.",
    "new_network_login": "Someone logged in from a network not seen in the last 90 days.",
}


def link(purpose: str, token: str) -> str:
    """Return the configured link for ``purpose`` carrying ``token``."""
    template = current_app.config["EMAIL_LINK_TEMPLATE"]
    return template.format(purpose=purpose, token=quote(token, safe=""))


def _with_link(opening: str, purpose: str, token: str, closing: str = "") -> str:
    lines = [opening, "", link(purpose, token), "", "Or use this token:", token, ""]
    if closing:
        lines += [closing, ""]
    return "\n".join(lines)


def mail_signup_link(address: str, token: str) -> None:
    """Mail the link that finishes a sign-up."""
    text = _with_link(
        "Follow this link to verify your address and open your account (POST /signup/verify):",
        VERIFY_EMAIL,
        token,
        "If you did not sign up, ignore this mail: no account is made without it.",
    )
    outbox.add_mail(address, "signup", "Verify your address", text)


def mail_signup_address_taken(address: str) -> None:
    """Tell an address that already has an account that someone tried to sign up with it."""
    text = (
        "Someone asked to sign up with this address, which already has an account.\n\n"
        "If it was you, log in, or reset your password (POST /password/forgot).\n"
        "If not, you need do nothing.\n"
    )
    outbox.add_mail(address, "signup_taken", "You already have an account", text)


def mail_signup_username_taken(address: str) -> None:
    """Tell a sign-up's address that the username it asked for is taken."""
    text = (
        "Someone asked to sign up with this address, but the username asked for is taken.\n\n"
        "If it was you, sign up again with another username.\n"
    )
    outbox.add_mail(address, "signup_taken", "That username is taken", text)


def mail_invitation(address: str, token: str) -> None:
    """Mail an invitation's link."""
    text = _with_link(
        "You are invited to open an account. Choose a username and a password at this link "
        "(POST /signup with the invite_token):",
        ACCEPT_INVITE,
        token,
    )
    outbox.add_mail(address, "invitation", "You are invited", text)


def mail_address_verification(address: str, token: str) -> None:
    """Mail the link that verifies an address set on an account."""
    text = _with_link(
        "Follow this link to verify this address for your account (POST /email/verify):",
        VERIFY_EMAIL,
        token,
        "If you did not ask for this, ignore this mail: the address stays unverified.",
    )
    outbox.add_mail(address, "verify_email", "Verify your address", text)


def mail_address_taken(address: str) -> None:
    """Tell an address that another account asked to take it, and could not."""
    text = (
        "Someone asked to move their account to this address, which already has an "
        "account. Nothing changed.\n"
    )
    outbox.add_mail(address, "email_taken", "Your address was asked for", text)


def mail_reset(address: str, token: str) -> None:
    """Mail a password reset's link."""
    text = _with_link(
        "Follow this link to choose a new password (POST /password/reset):",
        RESET_PASSWORD,
        token,
        "If you did not ask for this, ignore this mail: your password stays as it is.",
    )
    outbox.add_mail(address, "password_reset", "Reset your password", text)


def mail_notice(address: str, kind: str, token: str) -> None:
    """Mail a security notice with its account-securing link."""
    text = _with_link(
        f"{NOTICES[kind]}\n\nIf this was not you, follow this link to end every session and "
        "personal access token of your account (POST /account/secure), then reset your "
        "password:",
        SECURE_ACCOUNT,
        token,
    )
    outbox.add_mail(address, f"notice:{kind}"[:32], "Security notice", text)
