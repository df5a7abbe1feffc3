"""The ``resources`` blueprint: what a token unlocks, one module per resource."""

from ..views import Blueprint

blp = Blueprint("resources", __name__, description="The caller's account, notes, and users.")

# Each module registers its views on ``blp``.
from . import audit, me, notes, users  # noqa: E402, F401

__all__ = ["blp"]
