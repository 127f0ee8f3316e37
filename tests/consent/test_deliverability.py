"""Deliverability checks ask a real DNS server and refuse what they could not check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import db
from auditor.resolver import DnsResolver
from consent import ConsentKeys, ConsentLedger, InvalidEmail
from tests.support.dns_server import FixtureDnsServer

PURPOSE = "marketing-email"

ZONES = {
    "shop.example": {"MX": ["10 mx1.shop.example.", "20 mx2.shop.example."]},
    "nullmx.example": {"MX": "0 ."},
    "bare.example": {"A": "93.184.215.14"},
    "v6only.example": {"AAAA": "2a00:1450:4001:80b::200e"},
    "private.example": {"A": "10.1.2.3"},
    "txtonly.example": {"TXT": "v=spf1 -all"},
    "xn--bcher-kva.example": {"MX": "10 mx.xn--bcher-kva.example."},
}


@pytest.fixture(scope="module")
def dns() -> Iterator[FixtureDnsServer]:
    with FixtureDnsServer() as server:
        server.add_records(ZONES)
        server.never_answer("slow.example")
        server.answer_servfail("broken.example")
        yield server


@pytest.fixture
def resolver(dns: FixtureDnsServer) -> DnsResolver:
    # No cache: every lookup the ledger asks for reaches the server and is counted.
    return DnsResolver([dns.nameserver], timeout=0.2, lifetime=0.5, cache_size=0)


@pytest.fixture
def ledger(database: db.Database, resolver: DnsResolver) -> ConsentLedger:
    return ConsentLedger(database, ConsentKeys.generate(), dns_resolver=resolver)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("ann@shop.example", None),
        ("ann@bare.example", None),
        ("ann@v6only.example", None),
        ("ann@bücher.example", None),
        ("ann@nullmx.example", "does not accept mail (null MX)"),
        ("ann@private.example", "has no mail server"),
        ("ann@txtonly.example", "has no mail server"),
        ("ann@nowhere.example", "does not exist"),
        ("ann@slow.example", "could not check that slow.example accepts mail (DNS timeout)"),
        ("ann@broken.example", "could not check that broken.example accepts mail (DNS servfail)"),
    ],
)
def test_normalize_with_deliverability(
    ledger: ConsentLedger, address: str, problem: str | None
) -> None:
    if problem is None:
        assert ledger.normalize(address, check_deliverability=True) == address
        return
    with pytest.raises(InvalidEmail) as caught:
        ledger.normalize(address, check_deliverability=True)
    assert caught.value.field == "email" and problem in caught.value.message
    # Syntax alone is not in question.
    assert ledger.normalize(address) == address


def test_import_checks_each_domain_once_and_fails_closed(
    ledger: ConsentLedger, resolver: DnsResolver, tmp_path: Path
) -> None:
    rows = [
        "a@shop.example",
        "b@slow.example",
        "c@shop.example",
        "d@nullmx.example",
        "e@slow.example",
        "f@bare.example",
    ]
    path = tmp_path / "list.csv"
    path.write_text("email,consented_at,source\n" + "".join(f"{r},2025-01-02,fair\n" for r in rows))
    result = ledger.import_csv(path, PURPOSE, check_deliverability=True)
    assert result.accepted == 3
    assert [(r.line, r.reason) for r in result.rejected] == [
        (3, "email: could not check that slow.example accepts mail (DNS timeout)"),
        (5, "email: the domain nullmx.example does not accept mail (null MX)"),
        (6, "email: could not check that slow.example accepts mail (DNS timeout)"),
    ]
    # shop (MX), slow (MX), nullmx (MX), bare (MX, then A): each domain asked once.
    assert resolver.queries_sent == 5
    # Without the check, the same file is judged on syntax alone.
    again = ledger.import_csv(path, PURPOSE)
    assert (again.accepted, again.duplicates, again.rejected) == (3, 3, [])


def test_deliverability_needs_a_resolver(database: db.Database, tmp_path: Path) -> None:
    ledger = ConsentLedger(database, ConsentKeys.generate())
    path = tmp_path / "list.csv"
    path.write_text("email\na@shop.example\n")
    with pytest.raises(ValueError, match="resolver"):
        ledger.import_csv(path, PURPOSE, check_deliverability=True)
