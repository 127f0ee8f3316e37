"""RFC 6962 tree arithmetic against a direct transcription of the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest

from consent import merkle
from consent.verify import (
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _build(count: int) -> tuple[list[bytes], dict[merkle.NodeId, bytes]]:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(count)]
    appender = merkle.TreeAppender(0, [])
    store: dict[merkle.NodeId, bytes] = {}
    for leaf in leaves:
        for level, index, value in appender.append(leaf):
            assert (level, index) not in store
            store[(level, index)] = value
    return leaves, store


def _reader(store: dict[merkle.NodeId, bytes]) -> merkle.NodeReader:
    return lambda ids: {node: store[node] for node in ids}


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert merkle.root_from_leaves([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33, 64, 100])
def test_roots_and_proofs_match_the_rfc_definitions(size: int) -> None:
    leaves, store = _build(size)
    read = _reader(store)
    root = _mth(leaves)
    assert merkle.tree_root(size, read) == root == merkle.root_from_leaves(leaves)
    for m in range(size):
        proof = merkle.inclusion_proof(m, size, read)
        assert proof == _path(m, leaves)
        assert verify_inclusion(m, size, leaves[m], proof, root)
        if size > 1:
            assert not verify_inclusion(m, size, leaves[(m + 1) % size], proof, root)
    for first in range(1, size + 1):
        first_root = _mth(leaves[:first])
        proof = merkle.consistency_proof(first, size, read)
        assert proof == (_subproof(first, leaves, True) if first < size else [])
        assert verify_consistency(first, size, first_root, root, proof)
        if proof:
            bad = [bytes(32), *proof[1:]]
            assert not verify_consistency(first, size, first_root, root, bad)


def test_appender_resumes_from_the_stored_frontier() -> None:
    leaves, store = _build(23)
    frontier = [store[node] for node in merkle.frontier_ids(23)]
    resumed = merkle.TreeAppender(23, frontier)
    extra = [merkle.leaf_hash(f"x{i}".encode()) for i in range(10)]
    for leaf in extra:
        resumed.append(leaf)
    assert resumed.root() == _mth(leaves + extra)


def test_inclusion_proof_reads_only_logarithmically_many_nodes() -> None:
    _, store = _build(1000)
    asked: list[merkle.NodeId] = []

    def read(ids):  # type: ignore[no-untyped-def]
        asked.extend(ids)
        return {node: store[node] for node in ids}

    merkle.inclusion_proof(517, 1000, read)
    assert len(asked) <= 2 * 10


def test_wrong_index_or_size_fails_verification() -> None:
    leaves, store = _build(10)
    proof = merkle.inclusion_proof(3, 10, _reader(store))
    root = _mth(leaves)
    assert not verify_inclusion(4, 10, leaves[3], proof, root)
    assert not verify_inclusion(3, 4, leaves[3], proof, root)
    assert root_from_inclusion_proof(3, 10, leaves[3], proof) == root
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(10, 10, _reader(store))
