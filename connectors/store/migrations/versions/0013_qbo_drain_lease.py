"""QuickBooks Online: a per-company drain lease, so two senders never drain one company

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qbo_companies") as batch:
        batch.add_column(sa.Column("drain_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("drain_lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qbo_companies") as batch:
        batch.drop_column("drain_lease_until")
        batch.drop_column("drain_owner")
