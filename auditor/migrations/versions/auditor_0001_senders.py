"""Sender registry: senders, stored audits with their findings, and drift between audits.

Revision ID: auditor_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db import UTCDateTime

revision = "auditor_0001"
down_revision = None
branch_labels = ("auditor",)
depends_on = "db_0001"


def upgrade() -> None:
    op.create_table(
        "senders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("from_domain", sa.String(253), nullable=False),
        sa.Column("ips", sa.JSON, nullable=False),
        sa.Column("dkim_selectors", sa.JSON, nullable=False),
        sa.Column("helo", sa.String(253), nullable=True),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.UniqueConstraint("domain", name="uq_senders_domain"),
    )
    op.create_table(
        "sender_audits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "sender_id",
            sa.Integer,
            sa.ForeignKey("senders.id", name="fk_sender_audits_sender_id_senders"),
            nullable=False,
        ),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("dns_lookups", sa.Integer, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.CheckConstraint("verdict IN ('pass', 'warn', 'block')", name="ck_sender_audits_verdict"),
    )
    op.create_index("ix_sender_audits_sender", "sender_audits", ["sender_id", "id"])
    op.create_table(
        "sender_audit_findings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "audit_id",
            sa.Integer,
            sa.ForeignKey(
                "sender_audits.id", name="fk_sender_audit_findings_audit_id_sender_audits"
            ),
            nullable=False,
        ),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
    )
    op.create_index("ix_sender_audit_findings_code", "sender_audit_findings", ["code"])
    op.create_index("ix_sender_audit_findings_audit", "sender_audit_findings", ["audit_id"])
    op.create_table(
        "sender_drift",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "sender_id",
            sa.Integer,
            sa.ForeignKey("senders.id", name="fk_sender_drift_sender_id_senders"),
            nullable=False,
        ),
        sa.Column(
            "audit_id",
            sa.Integer,
            sa.ForeignKey("sender_audits.id", name="fk_sender_drift_audit_id_sender_audits"),
            nullable=False,
        ),
        sa.Column(
            "previous_audit_id",
            sa.Integer,
            sa.ForeignKey(
                "sender_audits.id", name="fk_sender_drift_previous_audit_id_sender_audits"
            ),
            nullable=False,
        ),
        sa.Column("detected_at", UTCDateTime, nullable=False),
        sa.Column("verdict_before", sa.String(8), nullable=False),
        sa.Column("verdict_after", sa.String(8), nullable=False),
        sa.Column("appeared", sa.JSON, nullable=False),
        sa.Column("cleared", sa.JSON, nullable=False),
    )
    op.create_index("ix_sender_drift_detected", "sender_drift", ["detected_at"])


def downgrade() -> None:
    op.drop_table("sender_drift")
    op.drop_table("sender_audit_findings")
    op.drop_table("sender_audits")
    op.drop_table("senders")
