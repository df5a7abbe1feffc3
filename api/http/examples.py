"""The values the OpenAPI document shows in request bodies.

``/docs``' "Try it out" fills a body with these, and the fuzzing sends them as valid data, so
each is readable, of its field's form, and passes the checks the server makes beyond the
schema (a new password is neither common nor the username). A token is of a token's shape,
signed with a key no server has: it is refused, as an example should be.
"""

from __future__ import annotations

# Examples in a public document, not credentials (hence the noqa: S105).
USERNAME = "alice"
NEW_USERNAME = "bob"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105
NEW_PASSWORD = "plum-ladder-orbit-nineteen"  # noqa: S105
REFRESH_TOKEN = (
    "rt.235695c3.eyJ1aWQiOjEsInNpZCI6IjZyWXpKdU5tZk0zdGdlUm45Y3p4OXciLCJnZW4iOjB9"  # noqa: S105
    ".axTkvg.Z2tS-tPBqVHRvLdXF-aZCy0yqPU"
)
MFA_TOKEN = (
    "mfa.235695c3.eyJ1aWQiOjEsImNpZCI6IjNRcXBHdFhKZnZZbTFVZ0R1b2hMa0EifQ"  # noqa: S105
    ".axTkvg.hXh1Dq0lLw3m9Zp2KTcvYb8Rj4E"
)
DEVICE_TOKEN = (
    "dt.41a25559.eyJ1aWQiOjEsImRpZCI6IlctMWZjMjJwWUxGeHNXVVJfRm8zUFEifQ"  # noqa: S105
    ".axToWQ.MxUP9hlmzM1g7mGgkBAJNs1Y9Zk"
)
TOTP_CODE = "123456"
RECOVERY_CODE = "ABCD-EFGH-JKLM-NPQR"
PAT_NAME = "nightly backup"
PAT_SCOPES = ["notes:read"]
PAT_LIFETIME = 7 * 24 * 3600  # a week: within any sensible PERSONAL_TOKEN_MAX_AGE
NOTE_TITLE = "Shopping list"
NOTE_BODY = "Milk, eggs, bread."
MAIL_TOKEN = (
    "pr.5ee1c0de.eyJ0aWQiOiJoRnhrQ0hfNUxuTk5pWEdPMlFjSkhoWWxEX1ZGZHJ1aSJ9"  # noqa: S105
    ".axTq2g.3I84z0pxNjnCsFXUtmca1Eeu1dA"
)
