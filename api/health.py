"""``GET /health``: is the service up, and does its database answer?"""

from __future__ import annotations

from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .database import db
from .errors import Unavailable
from .views import Blueprint, raises

blp = Blueprint("health", __name__, description="Service health.")


class HealthSchema(Schema):
    status = fields.String(required=True)


@blp.route("/health", methods=["GET"])
@raises(503)
@blp.response(200, HealthSchema)
def health():
    """Answer 200 when the database answers, else 503."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        raise Unavailable("database unavailable") from None
    return {"status": "ok"}
