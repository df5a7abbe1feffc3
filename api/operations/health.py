"""``GET /health``: is the service up, and does its database answer with the code's schema?"""

from __future__ import annotations

import logging

from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import database
from api.database import db
from api.errors import SchemaNotReady, Unavailable
from api.http.blueprint import Blueprint, raises

log = logging.getLogger("tessera")
blp = Blueprint("health", __name__, description="Service health.")


class HealthSchema(Schema):
    status = fields.String(required=True)


@blp.route("/health", methods=["GET"])
@raises(503)
@blp.response(200, HealthSchema)
def health():
    """Answer 200 when the database answers and its schema is the code's, else 503.

    The schema's revision is read until it is found ready, then never again in this process.
    """
    try:
        db.session.execute(text("SELECT 1"))
        not_ready = database.schema_problem()
    except SQLAlchemyError:
        db.session.rollback()
        raise Unavailable("database unavailable") from None
    if not_ready:
        log.warning("database schema not ready: %s: run init-db", not_ready)
        raise SchemaNotReady()
    return {"status": "ok"}
