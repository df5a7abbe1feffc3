"""The ``auth`` blueprint: credentials and everything about them, one module per resource."""

from api.http.blueprint import Blueprint, import_views

blp = Blueprint(
    "auth",
    __name__,
    description=(
        "Log in (with a second factor), refresh tokens, manage sessions, personal access "
        "tokens and TOTP."
    ),
)

# Each module of the package registers its views on ``blp``.
import_views(__name__)

__all__ = ["blp"]
