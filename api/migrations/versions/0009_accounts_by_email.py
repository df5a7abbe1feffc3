"""Accounts by email: addresses on users, mail tickets and the outbox.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-14 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place, even on SQLite (the table keeps its AUTOINCREMENT); uniqueness is an
    # index, which SQLite adds without making the table again.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("email_key", sa.String(length=254), nullable=True))
        batch.add_column(
            sa.Column("email_verified", sa.Boolean(), server_default="0", nullable=False)
        )
    op.create_index("ix_users_email_key", "users", ["email_key"], unique=True)
    op.create_table(
        "mail_tickets",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("password_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("mail_tickets_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("mail_tickets_pkey")),
    )
    op.create_index(op.f("ix_mail_tickets_user_id"), "mail_tickets", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_mail_tickets_expires_at"), "mail_tickets", ["expires_at"], unique=False
    )
    op.create_table(
        "outbox_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("claim", sa.String(length=43), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("outbox_mails_pkey")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_outbox_mails_waiting", "outbox_mails", ["sent_at", "next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_mails_waiting", table_name="outbox_mails")
    op.drop_table("outbox_mails")
    op.drop_index(op.f("ix_mail_tickets_expires_at"), table_name="mail_tickets")
    op.drop_index(op.f("ix_mail_tickets_user_id"), table_name="mail_tickets")
    op.drop_table("mail_tickets")
    op.drop_index("ix_users_email_key", table_name="users")
    if op.get_context().dialect.name != "sqlite":
        with op.batch_alter_table("users") as batch:
            batch.drop_column("email_verified")
            batch.drop_column("email_key")
            batch.drop_column("email")
        return
    # SQLite drops a column by making the table again: keep its AUTOINCREMENT and the largest
    # id it ever gave out, as 0007 does.
    given_out = op.get_bind().scalar(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'users'")
    )
    with op.batch_alter_table(
        "users", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("email_verified")
        batch.drop_column("email_key")
        batch.drop_column("email")
    if given_out is not None:
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'users'")
        op.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('users', :seq)").bindparams(
                seq=given_out
            )
        )
