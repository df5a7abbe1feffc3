"""The ``resources`` blueprint: what a token unlocks, one module per resource."""

from api.http.blueprint import Blueprint, import_views

blp = Blueprint("resources", __name__, description="The caller's account, notes, and users.")

# Each module of the package registers its views on ``blp``.
import_views(__name__)

__all__ = ["blp"]
