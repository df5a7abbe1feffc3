"""DPoP (RFC 9449): the key a session, a PAT or a login's second step is bound to, and the
proofs seen once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BOUND_TABLES = ("login_sessions", "personal_tokens", "mfa_challenges")


def upgrade() -> None:
    for table in BOUND_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("dpop_jkt", sa.String(length=43), nullable=True))
    op.create_table(
        "seen_dpop_proofs",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("seen_dpop_proofs_pkey")),
    )
    # Pruning finds the records no proof needs any more by their end.
    op.create_index(
        op.f("ix_seen_dpop_proofs_expires_at"), "seen_dpop_proofs", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_dpop_proofs_expires_at"), table_name="seen_dpop_proofs")
    op.drop_table("seen_dpop_proofs")
    for table in reversed(BOUND_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dpop_jkt")
