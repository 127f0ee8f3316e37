"""Per-client request counters for the public pages (shared by all workers).

Revision ID: web_0003
Revises: web_0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db import UTCDateTime

revision = "web_0003"
down_revision = "web_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("bucket", sa.String(32), primary_key=True),
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("window_start", UTCDateTime, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")
