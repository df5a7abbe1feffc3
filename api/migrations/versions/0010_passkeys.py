"""Passkeys (WebAuthn): credentials, the users' random handles, spent ceremony states, and how
each login session was proved.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-15 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("login_sessions") as batch:
        batch.add_column(sa.Column("proof", sa.String(length=32), nullable=True))
    op.create_table(
        "passkeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1364), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("transports", sa.String(length=200), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_used_at", UTC_DATETIME, nullable=True),
        sa.Column("disabled_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("passkeys_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("passkeys_pkey")),
        sa.UniqueConstraint("credential_id", name=op.f("passkeys_credential_id_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_passkeys_user_created", "passkeys", ["user_id", "created_at"], unique=False)
    op.create_table(
        "passkey_user_handles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=43), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("passkey_user_handles_user_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("passkey_user_handles_pkey")),
        sa.UniqueConstraint("handle", name=op.f("passkey_user_handles_handle_key")),
    )
    op.create_table(
        "spent_passkey_states",
        sa.Column("challenge", sa.String(length=43), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("challenge", name=op.f("spent_passkey_states_pkey")),
    )
    # Pruning finds the states that would have expired by their end.
    op.create_index(
        op.f("ix_spent_passkey_states_expires_at"),
        "spent_passkey_states",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_spent_passkey_states_expires_at"), table_name="spent_passkey_states")
    op.drop_table("spent_passkey_states")
    op.drop_table("passkey_user_handles")
    op.drop_index("ix_passkeys_user_created", table_name="passkeys")
    op.drop_table("passkeys")
    with op.batch_alter_table("login_sessions") as batch:
        batch.drop_column("proof")
