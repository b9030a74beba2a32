"""two-way sync: delivered QuickBooks changes, mappings looked up by QuickBooks id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivered_changes",
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("qb_id", sa.String(length=36), nullable=False),
        sa.Column("edit_sequence", sa.String(length=20), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "entity", "qb_id"),
    )
    with op.batch_alter_table("id_mappings", schema=None) as batch_op:
        batch_op.create_index("ix_id_mappings_qb_id", ["tenant_id", "qb_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("id_mappings", schema=None) as batch_op:
        batch_op.drop_index("ix_id_mappings_qb_id")
    op.drop_table("delivered_changes")
