"""import requests index: the gateway finds every file with an import requested in one
statement a second

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: only the requested rows (a few), whatever the number of files.
    op.create_index(
        "ix_import_watermarks_requested",
        "import_watermarks",
        ["requested_at"],
        unique=False,
        sqlite_where=sa.text("requested_at IS NOT NULL"),
        postgresql_where=sa.text("requested_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_import_watermarks_requested", table_name="import_watermarks")
