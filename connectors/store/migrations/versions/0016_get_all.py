"""get all after mapping: a watermark's full read (match / deliver), mapping confirmations

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 18:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_watermarks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("full_read", sa.String(length=10), nullable=True))
    op.create_table(
        "mapping_confirmations",
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "entity"),
    )


def downgrade() -> None:
    op.drop_table("mapping_confirmations")
    with op.batch_alter_table("import_watermarks", schema=None) as batch_op:
        batch_op.drop_column("full_read")
