"""profile schedule, host info, login throttling

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:35:29.504193
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("run_every_minutes", sa.Integer(), server_default="3", nullable=False)
        )
        batch_op.add_column(sa.Column("host_info", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("last_failed_login_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("last_failed_login_at")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("host_info")
        batch_op.drop_column("run_every_minutes")
