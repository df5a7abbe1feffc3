"""Initial schema: users, their login sessions and their notes.

This is exactly the schema ``db.create_all()`` made before migrations existed, so
``init-db`` adopts such a database by stamping it at this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 03:06:27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The models' UTCDateTime is this type on the database side; migrations keep to plain
# SQLAlchemy types so that they never change when the models do.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("username_key", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_login_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("users_pkey")),
        sa.UniqueConstraint("username_key", name=op.f("users_username_key_key")),
    )
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_used_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("refresh_generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("login_sessions_user_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("login_sessions_pkey")),
    )
    op.create_index("ix_login_sessions_user_created", "login_sessions", ["user_id", "created_at"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("notes_owner_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("notes_pkey")),
    )
    op.create_index("ix_notes_owner_created", "notes", ["owner_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_notes_owner_created", table_name="notes")
    op.drop_table("notes")
    op.drop_index("ix_login_sessions_user_created", table_name="login_sessions")
    op.drop_table("login_sessions")
    op.drop_table("users")
