"""What the database holds: a count of every table's rows, to show a refusal stored nothing.

The audit trail is left out: a refused attempt is recorded there by design (its own tests
check what each refusal writes).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from api.database import db
from api.models import AuditEvent

RECORDS_REFUSALS = {AuditEvent.__tablename__}


def row_counts(app: Flask) -> dict[str, int]:
    """Return the number of rows of every table of the models but the audit trail."""
    with app.app_context():
        return {
            name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            for name, table in db.metadata.tables.items()
            if name not in RECORDS_REFUSALS
        }
