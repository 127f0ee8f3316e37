"""Sender-audit throughput against a local dnslib DNS server.

Audits N senders (2 IPs -- one IPv4, one IPv6 -- and 2 DKIM selectors each)
with bounded concurrency, once with the resolver cache off (the baseline)
and once with it on, and prints senders/s and DNS queries per sender for
both, with the ratios. The DNS server runs in a separate process so that it
does not compete with the auditor for the interpreter lock.

    python bench/bench_audit.py            # 500 senders
    python bench/bench_audit.py --quick    # 50 senders
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from auditor import DnsResolver, SenderSpec, audit_many  # noqa: E402
from tests.auditor.sender_zone import good_sender  # noqa: E402
from tests.support.dns_server import FixtureDnsServer  # noqa: E402

TARGET_SENDERS_PER_SECOND = 50


def sender_ips(i: int) -> tuple[str, str]:
    return f"10.{i // 250}.{i % 250}.1", f"2001:db8:{i:x}::1"


def sender_domain(i: int) -> str:
    return f"s{i}.bench.example"


def _serve(count: int, conn: multiprocessing.connection.Connection) -> None:
    server = FixtureDnsServer()
    for i in range(count):
        server.add_records(good_sender(sender_domain(i), ips=sender_ips(i)))
    server.start()
    conn.send(server.nameserver)
    conn.recv()  # any message: stop
    conn.send(server.queries)
    server.stop()


def run(specs: list[SenderSpec], nameserver: str, *, cache: bool, concurrency: int) -> dict:
    resolver = DnsResolver(
        [nameserver], timeout=2.0, lifetime=5.0, cache_size=100_000 if cache else 0
    )
    started = time.perf_counter()
    cpu_started = time.process_time()
    audits = audit_many(specs, resolver=resolver, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    verdicts = {a.verdict for a in audits}
    if verdicts != {"pass"}:
        bad = next(a for a in audits if a.verdict != "pass")
        raise SystemExit(
            f"benchmark zone is wrong: {bad.domain} -> {[f.code for f in bad.findings]}"
        )
    return {
        "seconds": elapsed,
        "senders_per_s": len(specs) / elapsed,
        "lookups_per_sender": resolver.lookups / len(specs),
        "queries_per_sender": resolver.queries_sent / len(specs),
        # Auditor CPU (all threads), which other load on the machine does not
        # inflate the way it does wall-clock time.
        "cpu_ms_per_sender": cpu * 1000 / len(specs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 senders instead of 500")
    parser.add_argument("--senders", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    count = args.senders or (50 if args.quick else 500)

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=_serve, args=(count, child), daemon=True)
    server.start()
    nameserver = parent.recv()
    specs = [
        SenderSpec(
            sender_domain(i),
            ips=sender_ips(i),
            dkim_selectors=["s1", "s2"],
            helo=f"mail.{sender_domain(i)}",
        )
        for i in range(count)
    ]
    try:
        # Warm-up, untimed: every query once, so that both measured runs find
        # the fixture server's reply cache equally warm and only the client
        # side differs between them.
        run(specs, nameserver, cache=False, concurrency=args.concurrency)
        baseline = run(specs, nameserver, cache=False, concurrency=args.concurrency)
        cached = run(specs, nameserver, cache=True, concurrency=args.concurrency)
    finally:
        parent.send("stop")
        served = parent.recv()
        server.join(timeout=5)

    print(
        f"senders: {count} (2 IPs, 2 DKIM selectors, 3 DNSBL zones each), "
        f"concurrency {args.concurrency}, DNS server queries served: {served}"
    )
    print(
        f"{'':12}{'seconds':>8}{'senders/s':>11}{'lookups/sender':>16}"
        f"{'queries/sender':>16}{'CPU ms/sender':>15}"
    )
    for name, figures in (("no cache", baseline), ("with cache", cached)):
        print(
            f"{name:12}{figures['seconds']:8.2f}{figures['senders_per_s']:11.1f}"
            f"{figures['lookups_per_sender']:16.1f}{figures['queries_per_sender']:16.1f}"
            f"{figures['cpu_ms_per_sender']:15.2f}"
        )
    print(
        f"cache: {cached['senders_per_s'] / baseline['senders_per_s']:.2f}x senders/s, "
        f"{cached['queries_per_sender'] / baseline['queries_per_sender']:.2f}x queries "
        f"per sender, {cached['cpu_ms_per_sender'] / baseline['cpu_ms_per_sender']:.2f}x "
        f"CPU per sender"
    )
    best = max(baseline["senders_per_s"], cached["senders_per_s"])
    print(
        f"target >= {TARGET_SENDERS_PER_SECOND} senders/s: "
        f"{'met' if best >= TARGET_SENDERS_PER_SECOND else 'NOT met'} "
        f"(no cache {baseline['senders_per_s']:.1f}, with cache {cached['senders_per_s']:.1f})"
    )


if __name__ == "__main__":
    main()
