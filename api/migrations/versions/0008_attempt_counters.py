"""Failed-attempt counters in the database: exact across processes and hosts without Redis.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-13 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempt_counters",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("attempt_counters_pkey")),
    )
    # Pruning finds the ended windows by their end.
    op.create_index(
        op.f("ix_attempt_counters_expires_at"), "attempt_counters", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_attempt_counters_expires_at"), table_name="attempt_counters")
    op.drop_table("attempt_counters")
