"""The ``auth`` blueprint: credentials and everything about them, one module per resource."""

from ..views import Blueprint

blp = Blueprint(
    "auth",
    __name__,
    description="Log in, refresh tokens, manage sessions and personal access tokens.",
)

# Each module registers its views on ``blp``.
from . import login, password, revoke, sessions, tokens  # noqa: E402, F401

__all__ = ["blp"]
