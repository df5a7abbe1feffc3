"""The networks each user logged in from: a login from a new one earns a notice.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-28 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_networks",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=43), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_seen", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("login_networks_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "network", name=op.f("login_networks_pkey")),
    )


def downgrade() -> None:
    op.drop_table("login_networks")
