"""sent_through holds any Kafka offset: BIGINT on PostgreSQL (SQLite's INTEGER is 64-bit)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite stores any integer in 64 bits whatever the declared type, and rebuilding
    # `profiles` there (batch mode) would drop a table other tables' keys point to.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "profiles", "sent_through", type_=sa.BigInteger(), existing_type=sa.Integer()
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "profiles", "sent_through", type_=sa.Integer(), existing_type=sa.BigInteger()
        )
