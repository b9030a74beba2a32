"""imports: QuickBooks records, watermarks, the session's import state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 03:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qb_records",
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("qb_id", sa.String(length=36), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=True),
        sa.Column("ref_number", sa.String(length=40), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("edit_sequence", sa.String(length=20), nullable=True),
        sa.Column("time_modified", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "entity", "qb_id"),
    )
    with op.batch_alter_table("qb_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_qb_records_name", ["profile_id", "entity", "full_name"], unique=False
        )
    op.create_table(
        "import_watermarks",
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("modified_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "entity"),
    )
    with op.batch_alter_table("qbwc_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("importing", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qbwc_sessions", schema=None) as batch_op:
        batch_op.drop_column("importing")
    op.drop_table("import_watermarks")
    with op.batch_alter_table("qb_records", schema=None) as batch_op:
        batch_op.drop_index("ix_qb_records_name")
    op.drop_table("qb_records")
