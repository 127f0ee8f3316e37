"""Background imports: the submitted list's job row and its rejected rows.

Revision ID: consent_0003
Revises: consent_0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "consent_0003"
down_revision = "consent_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("check_deliverability", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_lines", sa.BigInteger, nullable=False),
        sa.Column("lines_read", sa.BigInteger, nullable=False),
        sa.Column("accepted", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("without_evidence", sa.BigInteger, nullable=False),
        sa.Column("rejected", sa.BigInteger, nullable=False),
        sa.Column("ignored_columns", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_consent_imports_status", "consent_imports", ["status", "created_at"])
    op.create_table(
        "consent_import_rejections",
        sa.Column(
            "import_id", sa.String(32), sa.ForeignKey("consent_imports.id"), primary_key=True
        ),
        sa.Column("line", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent_import_rejections")
    op.drop_index("ix_consent_imports_status", "consent_imports")
    op.drop_table("consent_imports")
