"""A per-user note counter, so a page of notes does not count every note.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("note_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE users SET note_count = (SELECT count(*) FROM notes WHERE notes.owner_id = users.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("note_count")
