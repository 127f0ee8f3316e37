"""Consent ledger: purposes, consent texts, subjects and keys, append-only events, Merkle
tree nodes and signed tree heads, materialized state, suppressions, opt-in tokens.

UPDATE and DELETE on the append-only tables are refused by triggers on both
backends, so rewriting history needs deliberate DDL, which verification then catches.
Tables looked up by a random key (subject HMACs, tree nodes) are clustered on it on
SQLite (WITHOUT ROWID): one B-tree per lookup instead of an index plus the table.

Revision ID: consent_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "consent_0001"
down_revision = None
branch_labels = ("consent",)
depends_on = "db_0001"

APPEND_ONLY_TABLES = ("consent_events", "consent_tree_nodes", "consent_tree_heads", "consent_texts")
DEFAULT_PURPOSE = "marketing-email"


def _timestamp() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consent_purposes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("repermission_months", sa.Integer, nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
    )
    op.create_table(
        "consent_texts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "purpose",
            sa.String(64),
            sa.ForeignKey(
                "consent_purposes.name", name="fk_consent_texts_purpose_consent_purposes"
            ),
            nullable=False,
        ),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.UniqueConstraint("purpose", "version", "language", name="uq_consent_texts_purpose"),
    )
    op.create_table(
        "consent_subjects",
        sa.Column("hmac", sa.String(64), primary_key=True),
        sa.Column("email_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("name_ciphertext", sa.LargeBinary, nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "consent_subject_keys",
        sa.Column("hmac", sa.String(64), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "consent_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("subject_hmac", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("text_id", sa.Integer, nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=True),
        sa.Column("form_url", sa.Text, nullable=True),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("campaign_id", sa.String(200), nullable=True),
        sa.Column("personal", sa.Text, nullable=True),
        sa.Column("has_evidence", sa.Boolean, nullable=False),
        sa.Column("occurred_at", _timestamp(), nullable=False),
        sa.Column("recorded_at", _timestamp(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_consent_events_subject_seq", "consent_events", ["subject_hmac", "seq"])
    op.create_table(
        "consent_tree_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "consent_tree_heads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_table(
        "consent_state",
        sa.Column("subject_hmac", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("granted_at", _timestamp(), nullable=True),
        sa.Column("granted_seq", sa.BigInteger, nullable=True),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("has_evidence", sa.Boolean, nullable=False),
        sa.Column("pending_request_seq", sa.BigInteger, nullable=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_consent_state_purpose_status", "consent_state", ["purpose", "status", "granted_at"]
    )
    op.create_table(
        "consent_suppressions",
        sa.Column("subject_hmac", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("since", _timestamp(), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "consent_optin_tokens",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("subject_hmac", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("request_seq", sa.BigInteger, nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.Column("used_at", _timestamp(), nullable=True),
    )
    op.create_index("ix_consent_optin_tokens_expires_at", "consent_optin_tokens", ["expires_at"])

    bind = op.get_bind()
    for table in APPEND_ONLY_TABLES:
        if bind.dialect.name == "postgresql":
            op.execute(
                f"""
                CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END;
                $$ LANGUAGE plpgsql
                """
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
            )
        else:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
                )

    op.execute(sa.text("INSERT INTO db_locks (name, generation) VALUES ('consent-ledger', 0)"))
    op.execute(
        sa.text(
            "INSERT INTO consent_purposes (name, description, repermission_months, created_at) "
            "VALUES (:name, :description, NULL, CURRENT_TIMESTAMP)"
        ).bindparams(
            name=DEFAULT_PURPOSE,
            description="Marketing email: newsletters, offers and lifecycle mail.",
        )
    )


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY_TABLES:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.execute(sa.text("DELETE FROM db_locks WHERE name = 'consent-ledger'"))
    for table in (
        "consent_optin_tokens",
        "consent_suppressions",
        "consent_state",
        "consent_tree_heads",
        "consent_tree_nodes",
        "consent_events",
        "consent_subject_keys",
        "consent_subjects",
        "consent_texts",
        "consent_purposes",
    ):
        op.drop_table(table)
