"""RFC 6962 Merkle tree arithmetic, kept apart from storage (pure functions, no database).

A node is named ``(level, index)``: level 0 are the leaves, and node
``(level, index)`` is the root of the complete subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. Only complete subtrees are ever
stored, so a stored node never changes once written; the hash of an incomplete
right edge is folded from complete ones when a proof needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from consent.verify import leaf_hash, node_hash

NodeId = tuple[int, int]
NodeReader = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]

EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

__all__ = [
    "EMPTY_ROOT",
    "NodeId",
    "NodeReader",
    "TreeAppender",
    "consistency_proof",
    "frontier_ids",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "subtree_ids",
    "tree_root",
]


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def subtree_ids(start: int, end: int) -> list[NodeId]:
    """The complete subtrees covering leaves ``[start, end)``, left to right, largest first.

    Valid for every range an RFC 6962 proof asks for: ``start`` is aligned to
    the largest block, so folding these right to left gives the RFC hash.
    """
    ids: list[NodeId] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        ids.append((level, start >> level))
        start += 1 << level
    return ids


def _fold(hashes: Sequence[bytes]) -> bytes:
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def frontier_ids(size: int) -> list[NodeId]:
    """The complete subtrees of a tree of ``size`` leaves: what an appender resumes from."""
    return subtree_ids(0, size)


def _inclusion_ranges(index: int, start: int, size: int, out: list[tuple[int, int]]) -> None:
    # RFC 6962 section 2.1.1 PATH(m, D[n]), iterated from the root; out is filled root-first.
    while size > 1:
        k = _largest_power_of_two_below(size)
        if index < k:
            out.append((start + k, start + size))
            size = k
        else:
            out.append((start, start + k))
            index -= k
            start += k
            size -= k


def _consistency_ranges(m: int, start: int, n: int, out: list[tuple[int, int]]) -> None:
    # RFC 6962 section 2.1.2 SUBPROOF(m, D[n], true), filled root-first.
    complete_left = True
    while m != n:
        k = _largest_power_of_two_below(n)
        if m <= k:
            out.append((start + k, start + n))
            n = k
        else:
            out.append((start, start + k))
            m -= k
            start += k
            n -= k
            complete_left = False
    if not complete_left:
        out.append((start, start + n))


def _resolve(ranges: list[tuple[int, int]], read: NodeReader) -> list[bytes]:
    wanted = {(start, end): subtree_ids(start, end) for start, end in ranges}
    nodes = read(sorted({node for ids in wanted.values() for node in ids}))
    result = []
    for start, end in ranges:
        try:
            result.append(_fold([nodes[node] for node in wanted[(start, end)]]))
        except KeyError as exc:
            raise LookupError(f"tree node {exc.args[0]} is missing from storage") from None
    return result


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves, leaf side first.

    ``read`` is called once with every node needed (O(log n) of them).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    _inclusion_ranges(index, 0, size, ranges)
    return _resolve(list(reversed(ranges)), read)


def consistency_proof(first_size: int, second_size: int, read: NodeReader) -> list[bytes]:
    """The RFC 6962 consistency proof between two sizes of the same log, leaf side first."""
    if not 0 <= first_size <= second_size:
        raise ValueError(f"cannot prove {first_size} consistent with {second_size}")
    if first_size in (0, second_size):
        return []
    ranges: list[tuple[int, int]] = []
    _consistency_ranges(first_size, 0, second_size, ranges)
    return _resolve(list(reversed(ranges)), read)


def tree_root(size: int, read: NodeReader) -> bytes:
    """The root hash of the first ``size`` leaves, from stored complete subtrees."""
    if size == 0:
        return EMPTY_ROOT
    return _resolve([(0, size)], read)[0]


def root_from_leaves(leaves: Iterable[bytes]) -> bytes:
    """The root over leaf hashes, computed in memory (used by verification and tests)."""
    appender = TreeAppender(0, [])
    for leaf in leaves:
        appender.append(leaf)
    return appender.root()


class TreeAppender:
    """Adds leaves to the right edge of a tree, yielding each newly completed subtree.

    Holds only the O(log n) frontier, so a batch of appends costs one read of the
    frontier and then pure hashing; the caller bulk-inserts what ``append`` returns.
    """

    def __init__(self, size: int, frontier: Sequence[bytes]) -> None:
        """Resume a tree of ``size`` leaves from the hashes of ``frontier_ids(size)``, in order."""
        levels = [level for level, _ in frontier_ids(size)]
        if len(levels) != len(frontier):
            raise ValueError(f"a tree of size {size} needs {len(levels)} frontier hashes")
        self.size = size
        self._stack: list[tuple[int, bytes]] = list(zip(levels, frontier, strict=True))

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the new nodes ``(level, index, hash)`` it completes."""
        index = self.size
        created = [(0, index, leaf)]
        level, current = 0, leaf
        while index & 1:
            _, left = self._stack.pop()
            current = node_hash(left, current)
            level += 1
            index >>= 1
            created.append((level, index, current))
        self._stack.append((level, current))
        self.size += 1
        return created

    def root(self) -> bytes:
        """The root hash of the tree as it stands."""
        if not self._stack:
            return EMPTY_ROOT
        return _fold([node for _, node in self._stack])
