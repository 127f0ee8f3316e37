"""Appends, the Merkle log, signed tree heads and whole-ledger verification (tamper tests)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select, text

import db
from consent import ConsentKeys, ConsentLedger, EventInput, Evidence, merkle
from consent.log import event_document
from consent.models import events
from consent.verify import EVENT_KEYS, canonical_json, leaf_hash, verify_inclusion


def _grant(ledger: ConsentLedger, n: int, start: int = 0) -> None:
    ledger.record_many(
        [
            EventInput(
                f"person{i}@example.com",
                "marketing-email",
                "granted",
                "form",
                Evidence(form_url="https://shop.example.com/join", ip="192.0.2.7", source="shop"),
            )
            for i in range(start, start + n)
        ]
    )


def _drop_guard(database: db.Database, table: str) -> None:
    with database.engine.begin() as conn:
        if database.backend == "postgresql":
            conn.execute(text(f"DROP TRIGGER {table}_no_update_delete ON {table}"))
        else:
            conn.execute(text(f"DROP TRIGGER {table}_no_update"))
            conn.execute(text(f"DROP TRIGGER {table}_no_delete"))


def test_events_get_consecutive_seqs_and_rfc6962_leaves(ledger: ConsentLedger) -> None:
    first = ledger.record(
        EventInput("Alice@Example.COM", "marketing-email", "granted", "api", Evidence(source="crm"))
    )
    second = ledger.record(
        EventInput("bob@example.com", "marketing-email", "granted", "api", Evidence(source="crm"))
    )
    assert (first.seq, second.seq) == (0, 1)
    with ledger.database.session() as session:
        rows = session.execute(select(events).order_by(events.c.seq)).mappings().all()
    assert set(event_document(rows[0])) == EVENT_KEYS
    leaves = [leaf_hash(canonical_json(event_document(row))) for row in rows]
    assert [leaf.hex() for leaf in leaves] == [first.leaf_hash, second.leaf_hash]
    head = ledger.make_signed_tree_head()
    assert head.tree_size == 2
    assert head.root_hash == merkle.node_hash(leaves[0], leaves[1]).hex()
    assert ledger.make_signed_tree_head() == head  # nothing new: the latest head is reused
    assert ledger.make_signed_tree_head(force=True).timestamp_ms >= head.timestamp_ms


def test_stored_subtrees_give_valid_proofs_against_signed_heads(ledger: ConsentLedger) -> None:
    _grant(ledger, 37)
    head = ledger.make_signed_tree_head()
    root = bytes.fromhex(head.root_hash)
    with ledger.database.session() as session:
        leaves = [
            bytes.fromhex(h)
            for h in session.execute(
                text("SELECT leaf_hash FROM consent_events ORDER BY seq")
            ).scalars()
        ]
    assert merkle.root_from_leaves(leaves) == root
    for seq in (0, 17, 36):
        proof = [bytes.fromhex(h) for h in ledger.inclusion_proof(seq, head.tree_size)]
        assert verify_inclusion(seq, head.tree_size, leaves[seq], proof, root)
    result = ledger.verify()
    assert result.ok and result.size == 37 and result.first_bad_seq is None


@pytest.mark.parametrize("table", ["consent_events", "consent_tree_nodes", "consent_tree_heads"])
def test_database_refuses_update_and_delete_of_the_log(ledger: ConsentLedger, table: str) -> None:
    _grant(ledger, 2)
    ledger.make_signed_tree_head()
    for statement in (f"UPDATE {table} SET {_column(table)}", f"DELETE FROM {table}"):
        with pytest.raises(Exception, match="append-only"), ledger.database.session() as session:
            session.execute(text(statement))
    assert ledger.verify().ok


def _column(table: str) -> str:
    return {
        "consent_events": "actor = 'mallory'",
        "consent_tree_nodes": "hash = hash",
        "consent_tree_heads": "tree_size = tree_size + 1",
    }[table]


def test_rewritten_event_is_caught_and_located(ledger: ConsentLedger) -> None:
    _grant(ledger, 20)
    ledger.make_signed_tree_head()
    _drop_guard(ledger.database, "consent_events")
    with ledger.database.session() as session:
        session.execute(text("UPDATE consent_events SET method = 'double-opt-in' WHERE seq = 13"))
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 13
    assert "seq 13" in (result.reason or "")


def test_rewritten_event_with_recomputed_leaf_is_caught_by_the_tree(ledger: ConsentLedger) -> None:
    _grant(ledger, 8)
    _drop_guard(ledger.database, "consent_events")
    with ledger.database.session() as session:
        row = dict(session.execute(select(events).where(events.c.seq == 5)).mappings().one())
        row["actor"] = "mallory"
        forged = leaf_hash(canonical_json(event_document(row))).hex()
        session.execute(
            text("UPDATE consent_events SET actor = 'mallory', leaf_hash = :h WHERE seq = 5"),
            {"h": forged},
        )
    result = ledger.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)


def test_deleted_event_is_caught_and_located(ledger: ConsentLedger) -> None:
    _grant(ledger, 12)
    _drop_guard(ledger.database, "consent_events")
    with ledger.database.session() as session:
        session.execute(text("DELETE FROM consent_events WHERE seq = 4"))
    result = ledger.verify()
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "missing" in (result.reason or "")


def test_deleted_last_event_is_caught(ledger: ConsentLedger) -> None:
    _grant(ledger, 6)
    _drop_guard(ledger.database, "consent_events")
    with ledger.database.session() as session:
        session.execute(text("DELETE FROM consent_events WHERE seq = 5"))
    result = ledger.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)


def test_reordered_events_are_caught_and_located(ledger: ConsentLedger) -> None:
    _grant(ledger, 10)
    _drop_guard(ledger.database, "consent_events")
    with ledger.database.session() as session:
        session.execute(text("UPDATE consent_events SET seq = 1000 WHERE seq = 3"))
        session.execute(text("UPDATE consent_events SET seq = 3 WHERE seq = 6"))
        session.execute(text("UPDATE consent_events SET seq = 6 WHERE seq = 1000"))
    result = ledger.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_forged_tree_node_and_tree_head_are_caught(ledger: ConsentLedger) -> None:
    _grant(ledger, 9)
    ledger.make_signed_tree_head()
    _drop_guard(ledger.database, "consent_tree_nodes")
    with ledger.database.session() as session:
        session.execute(
            text("UPDATE consent_tree_nodes SET hash = :h WHERE level = 2 AND idx = 1"),
            {"h": bytes(32)},
        )
    result = ledger.verify()
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_tree_head_signed_by_another_key_or_altered_is_caught(ledger: ConsentLedger) -> None:
    _grant(ledger, 3)
    ledger.make_signed_tree_head()
    _grant(ledger, 3, start=3)
    ledger.make_signed_tree_head()
    assert ledger.verify().tree_heads_checked == 2
    stranger = ConsentLedger(ledger.database, ConsentKeys.generate())
    result = stranger.verify()
    assert not result.ok and "untrusted key" in (result.reason or "")
    assert stranger.verify(trusted_public_keys=[ledger.keys.public_key]).ok
    _drop_guard(ledger.database, "consent_tree_heads")
    with ledger.database.session() as session:
        session.execute(text("UPDATE consent_tree_heads SET tree_size = 2 WHERE tree_size = 3"))
    result = ledger.verify()
    assert not result.ok and "signature" in (result.reason or "")


def test_latest_head_and_public_key_are_exposed(ledger: ConsentLedger) -> None:
    _grant(ledger, 1)
    head = ledger.make_signed_tree_head()
    assert ledger.latest_tree_head() == head
    assert base64.b64decode(head.public_key) == ledger.keys.public_key
    assert abs(head.timestamp - db.utcnow()) < timedelta(minutes=1)
