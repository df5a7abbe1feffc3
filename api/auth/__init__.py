"""The ``auth`` blueprint: credentials and everything about them, one module per resource."""

from ..views import Blueprint

blp = Blueprint(
    "auth",
    __name__,
    description=(
        "Log in (with a second factor), refresh tokens, manage sessions, personal access "
        "tokens and TOTP."
    ),
)

# Each module registers its views on ``blp``.
from . import (  # noqa: E402, F401
    events,
    login,
    mfa,
    password,
    reauthenticate,
    revoke,
    sessions,
    tokens,
)

__all__ = ["blp"]
