"""Wrong second-factor codes counted per account: how many in a row, and when the next may come.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place, even on SQLite: the table 0006 made (with AUTOINCREMENT) stays as it is.
    # A plain-string default: a SQL expression there would make alembic rebuild the table.
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("mfa_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("mfa_retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        with op.batch_alter_table("users") as batch:
            batch.drop_column("mfa_retry_at")
            batch.drop_column("mfa_failures")
        return
    # SQLite drops a column by making the table again: keep its AUTOINCREMENT, and the largest
    # id it ever gave out, which a rebuilt table would forget when the newest user is gone.
    given_out = op.get_bind().scalar(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'users'")
    )
    with op.batch_alter_table(
        "users", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("mfa_retry_at")
        batch.drop_column("mfa_failures")
    if given_out is not None:
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'users'")
        op.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('users', :seq)").bindparams(
                seq=given_out
            )
        )
