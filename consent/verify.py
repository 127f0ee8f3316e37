"""Offline verifier for a consent proof: ``python -m consent.verify proof.json``.

This module deliberately imports only the standard library and ``cryptography``
so that a regulator can copy this one file and check a proof without sendgate,
a database or network access. It is also where the ledger takes its RFC 6962
hashing and proof-checking primitives from, so both sides hash identically.

Exit status: 0 when the proof holds, 1 (with the reason on stderr) when it does
not, 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PROOF_FORMAT = "sendgate-consent-proof/1"
TREE_HEAD_CONTEXT = b"sendgate-consent-tree-head/v1\n"
PERSONAL_AAD_PREFIX = b"sendgate-consent-personal/v1|"
NONCE_BYTES = 12

_PROOF_KEYS = {"format", "subject", "public_key", "tree_head", "events", "consent_texts"}
_OPTIONAL_PROOF_KEYS = {"subject_key"}
_TREE_HEAD_KEYS = {"tree_size", "root_hash", "timestamp_ms", "signature"}
_ENTRY_KEYS = {"leaf_index", "event", "inclusion_proof"}
_TEXT_KEYS = {"id", "purpose", "version", "language", "sha256", "body"}
EVENT_KEYS = frozenset(
    {
        "v",
        "seq",
        "subject",
        "purpose",
        "action",
        "method",
        "text_id",
        "text_sha256",
        "form_url",
        "source",
        "campaign_id",
        "personal",
        "has_evidence",
        "occurred_at",
        "recorded_at",
        "actor",
    }
)


class ProofInvalid(Exception):
    """The proof does not hold; the message says which part failed."""


_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value that is hashed and signed (sorted keys, no spaces)."""
    return _CANONICAL_ENCODER.encode(value).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def consent_text_digest(purpose: str, version: str, language: str, body: str) -> str:
    """Hex SHA-256 of a consent text record: the words shown and what they were shown for."""
    record = {"purpose": purpose, "version": version, "language": language, "body": body}
    return hashlib.sha256(canonical_json(record)).hexdigest()


def tree_head_message(tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    """The exact bytes an Ed25519 tree-head signature covers."""
    return TREE_HEAD_CONTEXT + f"{tree_size}\n{root_hash.hex()}\n{timestamp_ms}\n".encode()


def personal_aad(subject: str) -> bytes:
    """Associated data binding a personal-data ciphertext to its subject."""
    return PERSONAL_AAD_PREFIX + subject.encode("ascii")


def root_from_inclusion_proof(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an RFC 9162 (section 2.1.3.2) inclusion proof; raises ProofInvalid."""
    if not 0 <= leaf_index < tree_size:
        raise ProofInvalid(f"leaf index {leaf_index} outside a tree of size {tree_size}")
    fn, sn, result = leaf_index, tree_size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofInvalid("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("inclusion proof is shorter than the tree is deep")
    return result


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``proof`` shows ``leaf`` at ``leaf_index`` in the tree with ``root``."""
    try:
        return root_from_inclusion_proof(leaf_index, tree_size, leaf, proof) == root
    except ProofInvalid:
        return False


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """True when ``proof`` (RFC 9162 section 2.1.4.2) shows the first tree is a prefix of the second."""  # noqa: E501
    if first_size < 0 or second_size < first_size:
        return False
    if first_size == second_size:
        return not proof and first_root == second_root
    if first_size == 0:
        return not proof
    path = list(proof)
    if first_size & (first_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def verify_tree_head_signature(
    public_key: bytes, tree_size: int, root_hash: bytes, timestamp_ms: int, signature: bytes
) -> bool:
    """True when ``signature`` is the Ed25519 signature of this tree head by ``public_key``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, tree_head_message(tree_size, root_hash, timestamp_ms)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ProofInvalid(f"{what} must be a base64 string")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProofInvalid(f"{what} is not valid base64") from None
    # Unused padding bits would let two spellings decode alike: only the canonical one passes.
    if base64.b64encode(decoded).decode("ascii") != value:
        raise ProofInvalid(f"{what} is not canonical base64")
    return decoded


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        raise ProofInvalid(f"{what} must be 64 lowercase hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ProofInvalid(f"{what} is not hex") from None


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofInvalid(f"{what} must be a non-negative integer")
    return value


def _keys(
    obj: Any, required: set[str] | frozenset[str], what: str, optional: set[str] = frozenset()
) -> dict[str, Any]:  # type: ignore[assignment]
    if not isinstance(obj, dict):
        raise ProofInvalid(f"{what} must be a JSON object")
    missing = required - obj.keys()
    extra = obj.keys() - required - optional
    if missing:
        raise ProofInvalid(f"{what} lacks {', '.join(sorted(missing))}")
    if extra:
        raise ProofInvalid(f"{what} has unexpected {', '.join(sorted(extra))}")
    return obj


def verify_proof(document: Any, expected_public_key: bytes | None = None) -> list[str]:
    """Check a proof document; return a human summary, or raise :class:`ProofInvalid`.

    Checks the tree head's signature, every event's inclusion in that tree, that
    every event belongs to the proof's subject, that every consent text quoted
    hashes to the SHA-256 the events recorded, and (when the subject's data key
    is disclosed) that every personal-data ciphertext decrypts untouched.
    """
    doc = _keys(document, _PROOF_KEYS, "proof", _OPTIONAL_PROOF_KEYS)
    if doc["format"] != PROOF_FORMAT:
        raise ProofInvalid(f"format must be {PROOF_FORMAT!r}")
    subject = doc["subject"]
    _hex32(subject, "subject")
    public_key = _b64(doc["public_key"], "public_key")
    if expected_public_key is not None and public_key != expected_public_key:
        raise ProofInvalid("public_key is not the expected ledger key")
    head = _keys(doc["tree_head"], _TREE_HEAD_KEYS, "tree_head")
    tree_size = _int(head["tree_size"], "tree_head.tree_size")
    root = _hex32(head["root_hash"], "tree_head.root_hash")
    timestamp_ms = _int(head["timestamp_ms"], "tree_head.timestamp_ms")
    signature = _b64(head["signature"], "tree_head.signature")
    if not verify_tree_head_signature(public_key, tree_size, root, timestamp_ms, signature):
        raise ProofInvalid("tree head signature does not verify with public_key")

    texts: dict[int, str] = {}
    if not isinstance(doc["consent_texts"], list):
        raise ProofInvalid("consent_texts must be a list")
    for position, raw_text in enumerate(doc["consent_texts"]):
        where = f"consent_texts[{position}]"
        text = _keys(raw_text, _TEXT_KEYS, where)
        digest = _hex32(text["sha256"], f"{where}.sha256").hex()
        fields = [text[name] for name in ("purpose", "version", "language", "body")]
        if not all(isinstance(value, str) for value in fields):
            raise ProofInvalid(f"{where}: purpose, version, language and body must be strings")
        if consent_text_digest(*fields) != digest:
            raise ProofInvalid(f"{where} does not match its sha256")
        texts[_int(text["id"], f"{where}.id")] = digest
    cited: set[int] = set()

    aead = None
    if "subject_key" in doc:
        aead = AESGCM(_b64(doc["subject_key"], "subject_key"))
    if not isinstance(doc["events"], list) or not doc["events"]:
        raise ProofInvalid("events must be a non-empty list")
    seen: set[int] = set()
    for position, raw_entry in enumerate(doc["events"]):
        where = f"events[{position}]"
        entry = _keys(raw_entry, _ENTRY_KEYS, where)
        index = _int(entry["leaf_index"], f"{where}.leaf_index")
        event = _keys(entry["event"], EVENT_KEYS, f"{where}.event")
        if event["seq"] != index:
            raise ProofInvalid(f"{where}: event seq differs from leaf_index")
        if index in seen:
            raise ProofInvalid(f"{where}: leaf {index} appears twice")
        seen.add(index)
        if event["subject"] != subject:
            raise ProofInvalid(f"{where}: event belongs to another subject")
        if not isinstance(entry["inclusion_proof"], list):
            raise ProofInvalid(f"{where}.inclusion_proof must be a list")
        path = [
            _hex32(node, f"{where}.inclusion_proof[{k}]")
            for k, node in enumerate(entry["inclusion_proof"])
        ]
        if not verify_inclusion(index, tree_size, leaf_hash(canonical_json(event)), path, root):
            raise ProofInvalid(f"{where}: event seq {index} is not included in the signed tree")
        text_id = event["text_id"]
        if text_id in texts:
            cited.add(text_id)
            if event["text_sha256"] != texts[text_id]:
                raise ProofInvalid(f"{where}: consent text {text_id} differs from the recorded one")
        if aead is not None and event["personal"] is not None:
            blob = _b64(event["personal"], f"{where}.event.personal")
            try:
                aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], personal_aad(subject))
            except (InvalidTag, ValueError):
                raise ProofInvalid(
                    f"{where}: personal data does not decrypt with subject_key"
                ) from None

    uncited = sorted(set(texts) - cited)
    if uncited:
        raise ProofInvalid(f"consent text(s) {uncited} are cited by no event of the proof")
    fingerprint = hashlib.sha256(public_key).hexdigest()[:16]
    return [
        f"subject {subject}",
        f"{len(seen)} event(s) included in the tree of size {tree_size}",
        f"tree head signed by key {fingerprint} at {timestamp_ms} ms since the epoch",
    ]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ProofInvalid(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def load_proof(raw: bytes) -> Any:
    """Parse a proof file strictly (UTF-8, JSON, no duplicate keys); raises ProofInvalid."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProofInvalid("not a UTF-8 JSON document") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consent.verify", description="Check a consent proof offline."
    )
    parser.add_argument("proof", help="proof JSON file")
    parser.add_argument(
        "--public-key", help="base64 Ed25519 key the ledger publishes; refuse any other signer"
    )
    args = parser.parse_args(argv)
    try:
        with open(args.proof, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        print(f"cannot read {args.proof}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        document = load_proof(raw)
        expected = _b64(args.public_key, "--public-key") if args.public_key else None
        summary = verify_proof(document, expected)
    except ProofInvalid as exc:
        print(f"proof INVALID: {exc}", file=sys.stderr)
        return 1
    print("proof OK")
    for line in summary:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
