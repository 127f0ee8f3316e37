"""Storage of the Merkle log: appending events with their tree nodes, tree heads, verification.

Tree arithmetic lives in :mod:`consent.merkle`; this module only reads and writes
rows. Appends must run inside a transaction that called
``db.serialize(session, LEDGER_LOCK)`` first, so exactly one writer extends the
log at a time and sequence numbers never fork or leave gaps.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from consent import bulk, merkle
from consent.crypto import ConsentKeys
from consent.models import events, tree_heads, tree_nodes
from consent.records import LedgerVerification, SignedTreeHead
from consent.verify import (
    canonical_json,
    leaf_hash,
    node_hash,
    tree_head_message,
    verify_consistency,
    verify_tree_head_signature,
)

EVENT_FORMAT_VERSION = 1
_ZERO = timedelta(0)
_CHUNK = 20_000
# SQLite limits bound parameters per statement; node reads stay well below it.
_NODE_READ_BATCH = 200


def format_timestamp(value: datetime) -> str:
    """The one text form of a timestamp inside hashed event JSON (UTC, microseconds, 'Z')."""
    if value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    # isoformat with fixed microseconds equals strftime("%Y-%m-%dT%H:%M:%S.%fZ"), faster.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The event as hashed into the log: every stored column except the leaf hash itself."""
    return {
        "v": EVENT_FORMAT_VERSION,
        "seq": row["seq"],
        "subject": row["subject_hmac"],
        "purpose": row["purpose"],
        "action": row["action"],
        "method": row["method"],
        "text_id": row["text_id"],
        "text_sha256": row["text_sha256"],
        "form_url": row["form_url"],
        "source": row["source"],
        "campaign_id": row["campaign_id"],
        "personal": row["personal"],
        "has_evidence": bool(row["has_evidence"]),
        "occurred_at": format_timestamp(row["occurred_at"]),
        "recorded_at": format_timestamp(row["recorded_at"]),
        "actor": row["actor"],
    }


def event_leaf(row: Mapping[str, Any]) -> bytes:
    return leaf_hash(canonical_json(event_document(row)))


def log_size(session: Session) -> int:
    """Number of leaves in the log (the next event's seq)."""
    last = session.execute(select(func.max(events.c.seq))).scalar()
    return 0 if last is None else int(last) + 1


def read_nodes(session: Session, ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
    """Stored subtree hashes for ``ids`` (absent ones are simply missing from the result)."""
    found: dict[merkle.NodeId, bytes] = {}
    for start in range(0, len(ids), _NODE_READ_BATCH):
        chunk = list(ids[start : start + _NODE_READ_BATCH])
        # One equality pair per node: both backends answer each from the primary key
        # (a row-value IN list makes SQLite scan the table).
        rows = session.execute(
            select(tree_nodes.c.level, tree_nodes.c.idx, tree_nodes.c.hash).where(
                or_(*(and_(tree_nodes.c.level == lv, tree_nodes.c.idx == ix) for lv, ix in chunk))
            )
        )
        for level, idx, value in rows:
            found[(int(level), int(idx))] = bytes(value)
    return found


def node_reader(session: Session) -> merkle.NodeReader:
    return lambda ids: read_nodes(session, ids)


def append(session: Session, rows: list[dict[str, Any]], recorded_at: datetime) -> int:
    """Append event rows (without ``seq``/``leaf_hash``/``recorded_at``) to the log, in order.

    Fills those three keys in each row, bulk-inserts the events and every newly
    completed subtree, and returns the first seq used. The caller holds the
    ledger lock; everything happens in its transaction.
    """
    size = log_size(session)
    frontier_ids = merkle.frontier_ids(size)
    stored = read_nodes(session, frontier_ids)
    try:
        appender = merkle.TreeAppender(size, [stored[node] for node in frontier_ids])
    except KeyError as exc:
        raise RuntimeError(f"tree node {exc.args[0]} missing: run ledger verification") from None
    nodes: list[tuple[int, int, bytes]] = []
    for offset, row in enumerate(rows):
        row["seq"] = size + offset
        row["recorded_at"] = recorded_at
        leaf = event_leaf(row)
        row["leaf_hash"] = leaf.hex()
        nodes.extend(appender.append(leaf))
    if rows:
        bulk.insert_rows(session, events, rows)
        bulk.insert_rows(
            session, tree_nodes, [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes]
        )
    return size


def _head_record(row: Any) -> SignedTreeHead:
    return SignedTreeHead(
        tree_size=int(row.tree_size),
        root_hash=row.root_hash,
        timestamp_ms=int(row.timestamp_ms),
        public_key=row.public_key,
        signature=row.signature,
    )


def latest_tree_head(session: Session) -> SignedTreeHead | None:
    row = session.execute(select(tree_heads).order_by(tree_heads.c.id.desc()).limit(1)).first()
    return None if row is None else _head_record(row)


def tree_head_covering(session: Session, seq: int) -> SignedTreeHead | None:
    """The latest signed head whose tree includes leaf ``seq``, if any."""
    row = session.execute(
        select(tree_heads)
        .where(tree_heads.c.tree_size > seq)
        .order_by(tree_heads.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _head_record(row)


def sign_tree_head(session: Session, keys: ConsentKeys, now: datetime) -> SignedTreeHead:
    """Sign and store the head of the log as it stands (caller holds the ledger lock)."""
    size = log_size(session)
    root = merkle.tree_root(size, node_reader(session))
    previous = latest_tree_head(session)
    timestamp_ms = int(now.timestamp() * 1000)
    if previous is not None:
        # Heads are ordered in time as in size, even if the clock stepped back.
        timestamp_ms = max(timestamp_ms, previous.timestamp_ms)
    signature = keys.private_key.sign(tree_head_message(size, root, timestamp_ms))
    head = SignedTreeHead(
        tree_size=size,
        root_hash=root.hex(),
        timestamp_ms=timestamp_ms,
        public_key=base64.b64encode(keys.public_key).decode("ascii"),
        signature=base64.b64encode(signature).decode("ascii"),
    )
    session.execute(
        insert(tree_heads).values(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp_ms=head.timestamp_ms,
            public_key=head.public_key,
            signature=head.signature,
        )
    )
    return head


class _Damage(Exception):
    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


def _check_events_and_leaves(session: Session) -> int:
    """Recompute every leaf from its event row and compare with the stored leaf and node."""
    expected = 0
    while True:
        rows = (
            session.execute(
                select(events).where(events.c.seq >= expected).order_by(events.c.seq).limit(_CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        leaves = dict(
            session.execute(
                select(tree_nodes.c.idx, tree_nodes.c.hash).where(
                    tree_nodes.c.level == 0,
                    tree_nodes.c.idx >= expected,
                    tree_nodes.c.idx <= rows[-1]["seq"],
                )
            ).all()
        )
        for row in rows:
            seq = int(row["seq"])
            if seq != expected:
                raise _Damage(expected, f"event seq {expected} is missing from the log")
            leaf = event_leaf(row)
            if row["leaf_hash"] != leaf.hex():
                raise _Damage(seq, f"event seq {seq} does not match its recorded leaf hash")
            stored = leaves.get(seq)
            if stored is None or bytes(stored) != leaf:
                raise _Damage(seq, f"event seq {seq} does not match the tree's leaf")
            expected += 1
    extra = session.execute(
        select(func.min(tree_nodes.c.idx)).where(
            tree_nodes.c.level == 0, tree_nodes.c.idx >= expected
        )
    ).scalar()
    if extra is not None:
        raise _Damage(int(extra), f"event seq {int(extra)} is missing but its leaf is in the tree")
    return expected


def _check_interior_nodes(session: Session, size: int) -> None:
    """Every stored node must hash its two children; every complete subtree must be stored."""
    level = 1
    while (1 << level) <= size:
        count = size >> level
        start = 0
        while start < count:
            stop = min(start + _CHUNK, count)
            parents = dict(
                session.execute(
                    select(tree_nodes.c.idx, tree_nodes.c.hash).where(
                        tree_nodes.c.level == level,
                        tree_nodes.c.idx >= start,
                        tree_nodes.c.idx < stop,
                    )
                ).all()
            )
            children = dict(
                session.execute(
                    select(tree_nodes.c.idx, tree_nodes.c.hash).where(
                        tree_nodes.c.level == level - 1,
                        tree_nodes.c.idx >= 2 * start,
                        tree_nodes.c.idx < 2 * stop,
                    )
                ).all()
            )
            for idx in range(start, stop):
                parent = parents.get(idx)
                left, right = children.get(2 * idx), children.get(2 * idx + 1)
                if parent is None or left is None or right is None:
                    raise _Damage(idx << level, f"tree node ({level}, {idx}) is missing")
                if bytes(parent) != node_hash(bytes(left), bytes(right)):
                    raise _Damage(
                        idx << level, f"tree node ({level}, {idx}) does not hash its children"
                    )
            start = stop
        stray = session.execute(
            select(func.min(tree_nodes.c.idx)).where(
                tree_nodes.c.level == level, tree_nodes.c.idx >= count
            )
        ).scalar()
        if stray is not None:
            raise _Damage(size, f"tree node ({level}, {int(stray)}) lies beyond the log")
        level += 1


def _check_tree_heads(session: Session, size: int, trusted: Iterable[bytes]) -> int:
    trusted_keys = {base64.b64encode(key).decode("ascii") for key in trusted}
    read = node_reader(session)
    previous: SignedTreeHead | None = None
    checked = 0
    for row in session.execute(select(tree_heads).order_by(tree_heads.c.id)):
        head = _head_record(row)
        where = f"signed tree head #{row.id} (size {head.tree_size})"
        if head.public_key not in trusted_keys:
            raise _Damage(None, f"{where} is signed by an untrusted key")
        try:
            root = bytes.fromhex(head.root_hash)
            signature = base64.b64decode(head.signature)
            public_key = base64.b64decode(head.public_key)
        except ValueError:
            raise _Damage(None, f"{where} is malformed") from None
        if not verify_tree_head_signature(
            public_key, head.tree_size, root, head.timestamp_ms, signature
        ):
            raise _Damage(None, f"{where} has an invalid signature")
        first_possible = previous.tree_size if previous is not None else 0
        if head.tree_size > size:
            raise _Damage(size, f"{where} covers events the log no longer holds")
        if merkle.tree_root(head.tree_size, read) != root:
            raise _Damage(first_possible, f"{where} does not match the log's root at that size")
        if previous is not None:
            if head.tree_size < previous.tree_size or head.timestamp_ms < previous.timestamp_ms:
                raise _Damage(None, f"{where} goes back in size or time from the previous head")
            proof = merkle.consistency_proof(previous.tree_size, head.tree_size, read)
            if not verify_consistency(
                previous.tree_size,
                head.tree_size,
                bytes.fromhex(previous.root_hash),
                root,
                proof,
            ):
                raise _Damage(first_possible, f"{where} is not consistent with the previous head")
        previous = head
        checked += 1
    return checked


def verify_log(session: Session, trusted_keys: Iterable[bytes]) -> LedgerVerification:
    """Recompute every leaf, every stored subtree and check every signed head (and their chain)."""
    size = log_size(session)
    try:
        size = _check_events_and_leaves(session)
        _check_interior_nodes(session, size)
        heads = _check_tree_heads(session, size, trusted_keys)
    except _Damage as damage:
        return LedgerVerification(False, size, damage.seq, damage.reason)
    return LedgerVerification(True, size, None, None, tree_heads_checked=heads)
