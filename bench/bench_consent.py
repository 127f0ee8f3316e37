"""Consent ledger benchmark: appends, CSV import, inclusion proofs, eligibility, and the
background import the API uses.

    .venv/bin/python bench/bench_consent.py [--quick] [--database-url URL]

Targets (issue 3, 2-core machine): batched append >= 5,000 events/s; 1M-row import
<= 5 min; inclusion proof <= 50 ms at 10M entries; eligibility of 1M addresses <= 10 s.

The ledger runs on a fresh SQLite file (or the PostgreSQL database named by
--database-url, whose consent tables must be empty). The 10M-entry tree for the
proof timing is built by a bulk path that writes only tree nodes (no events) into
a separate SQLite file; proofs read exactly the rows a real ledger's proof reads.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import db
from consent import ConsentKeys, ConsentLedger, EventInput, Evidence, ImportQueue, log, merkle

PURPOSE = "marketing-email"


def line(name: str, value: float, unit: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("  OK" if ok else "  BELOW TARGET")
    print(f"  {name:<44} {value:>12,.1f} {unit:<10} {target}{verdict}")


class Stopwatch:
    """Wall time and this process's CPU time of a block (the machine may be shared)."""

    def __enter__(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def note(self) -> None:
        print(
            f"    (process CPU {self.cpu:.1f} s of {self.wall:.1f} s wall; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )


def bench_appends(ledger: ConsentLedger, singles: int, batched: int, batch: int) -> None:
    print("appends")
    start = time.perf_counter()
    for i in range(singles):
        ledger.record(
            EventInput(
                f"single{i}@example.com", PURPOSE, "granted", "api", Evidence(source="bench")
            )
        )
    elapsed = time.perf_counter() - start
    line("single appends (one transaction each)", singles / elapsed, "events/s")
    with Stopwatch() as watch:
        _append_batches(ledger, batched, batch)
    rate = batched / watch.wall
    line(f"batched appends ({batch}/batch)", rate, "events/s", ">= 5,000", rate >= 5000)
    watch.note()


def _append_batches(ledger: ConsentLedger, batched: int, batch: int) -> None:
    for offset in range(0, batched, batch):
        ledger.record_many(
            [
                EventInput(
                    f"batch{offset + i}@example.com",
                    PURPOSE,
                    "granted",
                    "form",
                    Evidence(source="bench", ip="192.0.2.1", form_url="https://x.example/join"),
                )
                for i in range(batch)
            ]
        )


def write_csv(path: Path, rows: int, *, prefix: str = "reader") -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["email", "consented_at", "source", "ip", "country", "language", "timezone"]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"{prefix}.{i}@example{i % 97}.com",
                    "2025-06-01T12:00:00Z",
                    "newsletter-form",
                    f"198.51.100.{i % 250}",
                    "DE",
                    "de-DE",
                    "Europe/Berlin",
                ]
            )


def bench_background_import(
    ledger: ConsentLedger, workdir: Path, rows: int, direct_rate: float
) -> None:
    """The API's path: the upload sealed and checked, then imported by ImportQueue."""
    print("background import (sealed upload, progress per batch)")
    path = workdir / "background.csv"
    write_csv(path, rows, prefix="later")
    queue = ImportQueue(ledger, workdir / "spool")
    with Stopwatch() as submitting, path.open("rb") as upload:
        job = queue.submit(upload, PURPOSE, actor="bench")
    with Stopwatch() as running:
        done = queue.run(job.id)
    assert done is not None and done.accepted == rows, done
    rate = rows / (submitting.wall + running.wall)
    line(f"submit of {rows:,} rows (seal, check)", submitting.wall * 1000, "ms")
    line(f"run of {rows:,} rows", running.wall, "s")
    line("  rows/s, submit and run", rate, "rows/s")
    line("  against the direct import above", 100 * rate / direct_rate, "%")
    running.note()


def bench_import(ledger: ConsentLedger, workdir: Path, rows: int) -> tuple[list[str], float]:
    print("import")
    path = workdir / "list.csv"
    write_csv(path, rows)
    with Stopwatch() as watch:
        result = ledger.import_csv(path, PURPOSE)
    elapsed = watch.wall
    assert result.accepted == rows, result.as_dict()["rejected"][:3]
    projected = elapsed * 1_000_000 / rows
    line(f"import of {rows:,} rows", elapsed, "s")
    line("  rows/s", rows / elapsed, "rows/s")
    line("  projected for 1,000,000 rows", projected, "s", "<= 300", projected <= 300)
    watch.note()
    known = [ledger.subject_id(f"reader.{i}@example{i % 97}.com") for i in range(rows)]
    return known, rows / elapsed


def time_proofs(read: merkle.NodeReader, size: int, samples: int = 200) -> tuple[float, float]:
    rng = random.Random(7)
    timings = []
    for _ in range(samples):
        index = rng.randrange(size)
        start = time.perf_counter()
        merkle.inclusion_proof(index, size, read)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


def bench_proof_on_ledger(ledger: ConsentLedger) -> None:
    with ledger.database.session() as session:
        size = log.log_size(session)
        median, p99 = time_proofs(log.node_reader(session), size)
    line(f"inclusion proof, ledger of {size:,} (median)", median, "ms", "<= 50", median <= 50)
    line(f"inclusion proof, ledger of {size:,} (p99)", p99, "ms")


def bench_proof_bulk(workdir: Path, size: int) -> None:
    """Build a tree of ``size`` synthetic leaves straight into a node table, then time proofs."""
    path = workdir / f"tree-{size}.db"
    database = db.Database(f"sqlite:///{path}")
    db.upgrade(database)
    database.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    start = time.perf_counter()
    appender = merkle.TreeAppender(0, [])
    chunk: list[tuple[int, int, bytes]] = []
    for i in range(size):
        chunk.extend(appender.append(merkle.leaf_hash(i.to_bytes(8, "big"))))
        if len(chunk) >= 200_000:
            conn.executemany(
                "INSERT INTO consent_tree_nodes (level, idx, hash) VALUES (?,?,?)", chunk
            )
            chunk.clear()
    conn.executemany("INSERT INTO consent_tree_nodes (level, idx, hash) VALUES (?,?,?)", chunk)
    conn.commit()
    conn.close()
    line(f"bulk build of a {size:,}-leaf tree (nodes only)", time.perf_counter() - start, "s")
    database = db.Database(f"sqlite:///{path}")
    with database.session() as session:
        median, p99 = time_proofs(log.node_reader(session), size)
    database.dispose()
    line(f"inclusion proof, tree of {size:,} (median)", median, "ms", "<= 50", median <= 50)
    line(f"inclusion proof, tree of {size:,} (p99)", p99, "ms")
    path.unlink()


def bench_eligibility(ledger: ConsentLedger, known: list[str], total: int) -> None:
    print("eligibility")
    rng = random.Random(3)
    audience = list(known[:total])
    while len(audience) < total:  # pad with subjects the ledger never saw
        audience.append(f"{rng.getrandbits(256):064x}")
    with Stopwatch() as watch:
        result = ledger.eligibility(audience, PURPOSE)
    elapsed = watch.wall
    line(
        f"eligibility of {total:,} subject ids",
        elapsed,
        "s",
        f"<= {10 * total / 1_000_000:g} (10 s per 1M)",
        elapsed <= 10 * total / 1_000_000,
    )
    line("  eligible / excluded", len(result.eligible), f"/ {len(result.excluded):,}")
    watch.note()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run (about a minute)")
    parser.add_argument("--database-url", help="PostgreSQL URL of an empty, migrated database")
    parser.add_argument("--skip-10m", action="store_true", help="skip the 10M-leaf tree")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-consent-"))
    try:
        run(args, workdir)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def run(args: argparse.Namespace, workdir: Path) -> None:
    quick = args.quick
    url = args.database_url or f"sqlite:///{workdir / 'ledger.db'}"
    database = db.Database(url)
    db.upgrade(database)
    ledger = ConsentLedger(database, ConsentKeys.generate())
    print(f"backend: {database.backend}; {'quick' if quick else 'full'} run")

    bench_appends(ledger, 200 if quick else 2000, 20_000 if quick else 100_000, 1000)
    import_rows = 50_000 if quick else 1_000_000
    known, import_rate = bench_import(ledger, workdir, import_rows)
    print("proofs")
    bench_proof_on_ledger(ledger)
    if quick:
        bench_proof_bulk(workdir, 100_000)
    elif not args.skip_10m:
        bench_proof_bulk(workdir, 10_000_000)
    bench_eligibility(ledger, known, 100_000 if quick else 1_000_000)
    start = time.perf_counter()
    ledger.make_signed_tree_head()
    verification = ledger.verify()
    line(
        f"full verification of {verification.size:,} events",
        time.perf_counter() - start,
        "s",
        "ok" if verification.ok else f"FAILED: {verification.reason}",
    )
    # Last, so the figures above stay comparable between runs.
    bench_background_import(ledger, workdir, 20_000 if quick else 200_000, import_rate)
    database.dispose()


if __name__ == "__main__":
    sys.exit(main())
