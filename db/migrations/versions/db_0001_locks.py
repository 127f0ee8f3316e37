"""Named serialisation locks shared by every package (see db.engine.serialize).

Revision ID: db_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "db_0001"
down_revision = None
branch_labels = ("db",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "db_locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("db_locks")
