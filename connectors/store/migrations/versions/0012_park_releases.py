"""park releases: support asks the worker to plan a parked record again now

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "park_releases",
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "entity", "entity_id"),
    )


def downgrade() -> None:
    op.drop_table("park_releases")
