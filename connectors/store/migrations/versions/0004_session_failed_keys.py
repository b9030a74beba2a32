"""session failed keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 01:00:05.739948
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qbwc_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_keys", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qbwc_sessions", schema=None) as batch_op:
        batch_op.drop_column("failed_keys")
