"""console: dead-letter a parked record by hand; Web Connector clients and session history

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 11:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("park_releases") as batch:
        batch.add_column(
            sa.Column("action", sa.String(length=20), server_default="release", nullable=False)
        )
        batch.add_column(sa.Column("parked_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("requested_by", sa.String(length=100), nullable=True))
    op.create_table(
        "qbwc_clients",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("web_connector", sa.String(length=40), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client"),
    )
    op.create_table(
        "qbwc_session_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("web_connector", sa.String(length=40), nullable=True),
        sa.Column("qbxml_country", sa.String(length=10), nullable=True),
        sa.Column("qbxml_major", sa.Integer(), nullable=True),
        sa.Column("qbxml_minor", sa.Integer(), nullable=True),
        sa.Column("qbxml_version", sa.String(length=10), nullable=True),
        sa.Column("settled", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_qbwc_session_history_profile",
        "qbwc_session_history",
        ["profile_id", "started_at"],
    )
    op.create_index("ix_qbwc_session_history_ticket_hash", "qbwc_session_history", ["ticket_hash"])


def downgrade() -> None:
    op.drop_index("ix_qbwc_session_history_ticket_hash", table_name="qbwc_session_history")
    op.drop_index("ix_qbwc_session_history_profile", table_name="qbwc_session_history")
    op.drop_table("qbwc_session_history")
    op.drop_table("qbwc_clients")
    with op.batch_alter_table("park_releases") as batch:
        batch.drop_column("requested_by")
        batch.drop_column("parked_at")
        batch.drop_column("action")
