"""Ids never come back on SQLite, and a personal access token is bound to its row.

SQLite gave a new row the largest id in use plus one, so the id of a deleted newest user, PAT,
note or event went to the next one (and an old PAT, naming only ids, spoke for its new owner).
Each such table is rebuilt with AUTOINCREMENT, rows kept, and its sequence starts past every
id it is known to have given out: the largest left, and the largest an event names as made
(the newest rows may have been deleted already). PostgreSQL's sequences never went back.

A PAT's row gets a random ``nonce``, signed into the tokens made from now on; rows made before
keep none, and no token matches them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_EVENTS = sa.table("audit_events", sa.column("event"), sa.column("user_id"), sa.column("fields"))
_SEQUENCES = sa.table("sqlite_sequence", sa.column("name"), sa.column("seq"))
# Each table whose id leaves the database, with the largest id the audit trail says it gave
# out (only events that record a real row: never a refused token's claim).
HIGHEST_ID_NAMED = {
    "users": sa.select(sa.func.max(_EVENTS.c.user_id)).where(
        _EVENTS.c.event.in_(["user_created", "user_deleted"])
    ),
    "personal_tokens": sa.select(
        sa.func.max(sa.cast(sa.func.json_extract(_EVENTS.c.fields, "$.token_id"), sa.Integer))
    ).where(_EVENTS.c.event.in_(["personal_token_created", "personal_token_revoked"])),
    "notes": None,
    "audit_events": None,
}


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    sqlite = _sqlite()
    for table in HIGHEST_ID_NAMED:
        # On SQLite the table is made again with AUTOINCREMENT (env.py turns foreign keys off
        # meanwhile, so dropping the old one cascades nowhere); elsewhere nothing is rebuilt.
        with op.batch_alter_table(
            table,
            recreate="always" if sqlite else "auto",
            table_kwargs={"sqlite_autoincrement": True} if sqlite else {},
        ) as batch:
            if table == "personal_tokens":
                batch.add_column(sa.Column("nonce", sa.String(length=43), nullable=True))
    if sqlite:
        for table, named in HIGHEST_ID_NAMED.items():
            _start_sequence_past(table, named)


def _start_sequence_past(table: str, named: sa.Select | None) -> None:
    """Set SQLite's sequence of ``table`` to the largest id it is known to have given out."""
    highest = sa.func.coalesce(
        sa.select(sa.func.max(sa.column("id"))).select_from(sa.table(table)).scalar_subquery(), 0
    )
    if named is not None:
        highest = sa.func.max(highest, sa.func.coalesce(named.scalar_subquery(), 0))
    op.execute(sa.delete(_SEQUENCES).where(_SEQUENCES.c.name == table))
    op.execute(
        sa.insert(_SEQUENCES).from_select(["name", "seq"], sa.select(sa.literal(table), highest))
    )


def downgrade() -> None:
    sqlite = _sqlite()
    for table in reversed(HIGHEST_ID_NAMED):
        # Reflected, the table has no AUTOINCREMENT: made again on SQLite, it is as before.
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            if table == "personal_tokens":
                batch.drop_column("nonce")
