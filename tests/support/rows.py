"""What the database holds: a count of every table's rows, to show a refusal stored nothing."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from api.database import db


def row_counts(app: Flask) -> dict[str, int]:
    """Return the number of rows of every table of the models."""
    with app.app_context():
        return {
            name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            for name, table in db.metadata.tables.items()
        }
