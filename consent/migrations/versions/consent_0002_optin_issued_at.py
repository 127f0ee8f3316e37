"""Opt-in tokens record when they were issued, indexed per subject and purpose, so the
number of confirmation mails one address was sent in a day can be counted.

Tokens issued before this revision have no ``issued_at`` and are not counted.

Revision ID: consent_0002
Revises: consent_0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "consent_0002"
down_revision = "consent_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_optin_tokens") as batch:
        batch.add_column(sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_consent_optin_tokens_subject",
        "consent_optin_tokens",
        ["subject_hmac", "purpose", "issued_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_consent_optin_tokens_subject", "consent_optin_tokens")
    with op.batch_alter_table("consent_optin_tokens") as batch:
        batch.drop_column("issued_at")
