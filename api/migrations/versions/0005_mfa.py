"""A second factor (TOTP, recovery codes, login challenges) and a session's last proof.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("totp_pending_secret", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
    # Until now a session's proof was the login that opened it: backfill from created_at,
    # then require it.
    with op.batch_alter_table("login_sessions") as batch:
        batch.add_column(sa.Column("authenticated_at", UTC_DATETIME, nullable=True))
        batch.add_column(
            sa.Column(
                "enrolment_only", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
    op.execute("UPDATE login_sessions SET authenticated_at = created_at")
    with op.batch_alter_table("login_sessions") as batch:
        batch.alter_column("authenticated_at", existing_type=UTC_DATETIME, nullable=False)
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("recovery_codes_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("recovery_codes_pkey")),
        sa.UniqueConstraint("code_hash", name=op.f("recovery_codes_code_hash_key")),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "mfa_challenges",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("spent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("mfa_challenges_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("mfa_challenges_pkey")),
    )
    op.create_index("ix_mfa_challenges_user_id", "mfa_challenges", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_mfa_challenges_user_id", table_name="mfa_challenges")
    op.drop_table("mfa_challenges")
    op.drop_index("ix_recovery_codes_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    with op.batch_alter_table("login_sessions") as batch:
        batch.drop_column("enrolment_only")
        batch.drop_column("authenticated_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_pending_secret")
        batch.drop_column("totp_secret")
