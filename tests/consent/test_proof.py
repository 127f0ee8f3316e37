"""Subject proofs and the standalone verifier (python -m consent.verify)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from consent import ConsentLedger, EventInput, Evidence, ProofInvalid, verify_proof
from consent.verify import load_proof

REPO = Path(__file__).resolve().parents[2]


def _proof_file(ledger: ConsentLedger, tmp_path: Path, *, disclose: bool = True) -> Path:
    text = ledger.add_consent_text("marketing-email", "2026-01", "en", "We send offers weekly.")
    for i in range(25):
        ledger.record(
            EventInput(
                f"other{i}@example.net",
                "marketing-email",
                "granted",
                "form",
                Evidence(source="shop", ip="198.51.100.1"),
            )
        )
    ledger.record(
        EventInput(
            "carol@example.org",
            "marketing-email",
            "granted",
            "form",
            Evidence(
                text_id=text.id,
                form_url="https://x.example/join",
                ip="203.0.113.9",
                user_agent="Firefox",
            ),
        )
    )
    ledger.record(
        EventInput("carol@example.org", "marketing-email", "withdrawn", "one-click-unsubscribe")
    )
    path = tmp_path / "proof.json"
    document = ledger.proof("carol@example.org", disclose_personal=disclose)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    return path


def test_proof_holds_and_reveals_nobody_else(ledger: ConsentLedger, tmp_path: Path) -> None:
    path = _proof_file(ledger, tmp_path)
    raw = path.read_text()
    document = json.loads(raw)
    assert [e["event"]["action"] for e in document["events"]] == ["granted", "withdrawn"]
    assert "other" not in raw and "198.51.100.1" not in raw and "carol" not in raw
    assert {e["event"]["subject"] for e in document["events"]} == {document["subject"]}
    summary = verify_proof(document, ledger.keys.public_key)
    assert "2 event(s)" in summary[1]


def test_verifier_cli_accepts_and_rejects(ledger: ConsentLedger, tmp_path: Path) -> None:
    path = _proof_file(ledger, tmp_path)
    ok = subprocess.run(
        [sys.executable, "-m", "consent.verify", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("proof OK")
    tampered = json.loads(path.read_text())
    tampered["events"][0]["event"]["occurred_at"] = "2020-01-01T00:00:00.000000Z"
    path.write_text(json.dumps(tampered))
    bad = subprocess.run(
        [sys.executable, "-m", "consent.verify", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "not included in the signed tree" in bad.stderr


def test_verifier_runs_alone_without_sendgate_or_sqlalchemy(
    ledger: ConsentLedger, tmp_path: Path
) -> None:
    path = _proof_file(ledger, tmp_path)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(REPO / "consent" / "verify.py", alone / "verify.py")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, runpy; sys.argv = ['verify.py', sys.argv[1]];"
            "code = 0\n"
            "try: runpy.run_path('verify.py', run_name='__main__')\n"
            "except SystemExit as e: code = e.code\n"
            "assert 'sqlalchemy' not in sys.modules and 'consent' not in sys.modules\n"
            "sys.exit(code)",
            str(path),
        ],
        cwd=alone,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, consent.verify; print('sqlalchemy' in sys.modules)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "False"


def test_every_single_bit_flip_is_rejected(sqlite_ledger: ConsentLedger, tmp_path: Path) -> None:
    raw = _proof_file(sqlite_ledger, tmp_path).read_bytes()
    key = sqlite_ledger.keys.public_key
    verify_proof(load_proof(raw), key)
    accepted = []
    for position in range(len(raw)):
        flipped = bytearray(raw)
        flipped[position] ^= 1 << (position % 8)
        try:
            verify_proof(load_proof(bytes(flipped)))
        except ProofInvalid:
            continue
        accepted.append(position)
    assert accepted == []


def test_proof_without_disclosure_has_no_key(ledger: ConsentLedger, tmp_path: Path) -> None:
    document = json.loads(_proof_file(ledger, tmp_path, disclose=False).read_text())
    assert "subject_key" not in document
    verify_proof(document)


def test_untrusted_signer_is_refused(ledger: ConsentLedger, tmp_path: Path) -> None:
    document = json.loads(_proof_file(ledger, tmp_path).read_text())
    with pytest.raises(ProofInvalid, match="expected ledger key"):
        verify_proof(document, bytes(32))
