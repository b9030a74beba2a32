"""dead letter replays

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:29:51.785852
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letter_replays",
        sa.Column("dead_letter_id", sa.String(length=36), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dead_letter_id"),
    )


def downgrade() -> None:
    op.drop_table("dead_letter_replays")
