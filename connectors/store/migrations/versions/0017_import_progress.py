"""import progress: how far a read under way got (records read, what QuickBooks says is left)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 23:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_watermarks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("remaining", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_watermarks", schema=None) as batch_op:
        batch_op.drop_column("progress_at")
        batch_op.drop_column("remaining")
        batch_op.drop_column("progress")
