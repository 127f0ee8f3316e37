"""The shared resolver against a real DNS server: typed outcomes, failover, cache, counters."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from auditor import DnsResolver, DnsStatus, ResolverConfigError
from auditor.resolver import parse_nameserver, reverse_name
from tests.support.dns_server import FixtureDnsServer

# Limits for resolvers built here: short where a test waits for a timeout,
# patient where it must not see one.
TEST_TIMEOUT = 0.2
TEST_LIFETIME = 0.2
PATIENT = 2.0


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("192.0.2.1", ("192.0.2.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[2001:db8::53]", ("2001:db8::53", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        (" 10.0.0.1:53 ", ("10.0.0.1", 53)),
    ],
)
def test_parse_nameserver(entry, expected):
    assert parse_nameserver(entry) == expected


@pytest.mark.parametrize("entry", ["", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:x",
                                   "[::1", "[::1]5353"])
def test_parse_nameserver_rejects(entry):
    with pytest.raises(ResolverConfigError):
        parse_nameserver(entry)


def test_resolver_rejects_bad_settings():
    with pytest.raises(ResolverConfigError):
        DnsResolver([], timeout=1)
    with pytest.raises(ResolverConfigError):
        DnsResolver(["127.0.0.1"], timeout=0)
    with pytest.raises(ResolverConfigError):
        DnsResolver(["127.0.0.1"], cache_size=-1)


def test_typed_outcomes(dns_server, resolver, impatient_resolver):
    dns_server.add_records(
        {
            "example.com": {"A": ["192.0.2.1"], "TXT": ["v=spf1 -all", "hello"],
                            "MX": ["20 mx2.example.com.", "10 mx1.example.com."]},
            "a.b.example.com": {"A": ["192.0.2.2"]},
            "www.example.com": {"CNAME": ["example.com."]},
        }
    )
    answer = resolver.query("Example.COM.", "a")
    assert (answer.status, answer.records, answer.ttl) == (DnsStatus.ANSWER, ("192.0.2.1",), 300)
    assert set(resolver.query("example.com", "TXT").records) == {"v=spf1 -all", "hello"}
    assert set(resolver.query("example.com", "MX").records) == {"10 mx1.example.com",
                                                               "20 mx2.example.com"}
    assert resolver.query("www.example.com", "A").records == ("192.0.2.1",)
    nodata = resolver.query("example.com", "AAAA")
    assert nodata.status is DnsStatus.NODATA and nodata.void and not nodata.unavailable
    assert resolver.query("b.example.com", "A").status is DnsStatus.NODATA  # empty non-terminal
    assert resolver.query("nope.example.com", "A").status is DnsStatus.NXDOMAIN
    timeout = impatient_resolver.query("x.timeout.test", "A")
    assert (timeout.status, timeout.reason) == (DnsStatus.UNAVAILABLE, "timeout")
    assert not timeout.void
    servfail = resolver.query("x.servfail.test", "TXT")
    assert (servfail.status, servfail.reason) == (DnsStatus.UNAVAILABLE, "servfail")
    dns_server.answer_refused("refused.test")
    refused = resolver.query("refused.test", "A")
    assert (refused.status, refused.reason) == (DnsStatus.UNAVAILABLE, "refused")
    assert "timeout" in timeout.describe() and dns_server.nameserver in timeout.describe()


def test_truncated_udp_reply_is_repeated_over_tcp(dns_server, resolver):
    dns_server.add_records({"example.com": {"TXT": ["v=spf1 -all"], "A": ["192.0.2.1"]}})
    dns_server.truncate_udp = True
    try:
        assert resolver.query("example.com", "TXT").records == ("v=spf1 -all",)
        assert resolver.query("nope.example.com", "A").status is DnsStatus.NXDOMAIN
    finally:
        dns_server.truncate_udp = False


def test_long_txt_record_is_joined(dns_server, resolver):
    record = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(40)) + " -all"
    dns_server.add_records({"long.example": {"TXT": [record]}})
    assert len(record) > 255
    assert resolver.query("long.example", "TXT").records == (record,)


def test_timeout_respects_lifetime(dns_server, impatient_resolver):
    started = time.monotonic()
    assert impatient_resolver.query("slow.timeout.test", "A").unavailable
    assert time.monotonic() - started < TEST_LIFETIME + 0.3


def test_fails_over_to_the_next_nameserver(dns_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        dead = f"127.0.0.1:{silent.getsockname()[1]}"
        dns_server.add_records({"example.com": {"A": ["192.0.2.1"]}})
        resolver = DnsResolver([dead, dns_server.nameserver], timeout=TEST_TIMEOUT,
                               lifetime=PATIENT, cache_size=0)
        assert resolver.query("example.com", "A").records == ("192.0.2.1",)
        assert resolver.servers_text == f"{dead}, {dns_server.nameserver}"


def test_cache_respects_ttl(dns_server):
    dns_server.add_zone_text("short.example. 1 IN A 192.0.2.1")
    resolver = DnsResolver([dns_server.nameserver], timeout=PATIENT,
                           lifetime=PATIENT)
    assert resolver.query("short.example", "A").records == ("192.0.2.1",)
    dns_server.clear()
    dns_server.add_zone_text("short.example. 1 IN A 192.0.2.2")
    assert resolver.query("short.example", "A").records == ("192.0.2.1",)  # cached
    assert (resolver.lookups, resolver.queries_sent) == (2, 1)
    time.sleep(1.05)
    assert resolver.query("short.example", "A").records == ("192.0.2.2",)
    assert resolver.queries_sent == 2


def test_cache_keeps_negative_answers_for_the_soa_minimum(dns_server):
    resolver = DnsResolver([dns_server.nameserver], timeout=PATIENT,
                           lifetime=PATIENT)
    first = resolver.query("missing.example", "A")
    assert first.status is DnsStatus.NXDOMAIN and first.ttl == 60
    resolver.query("missing.example", "A")
    assert resolver.queries_sent == 1


def test_cache_never_keeps_unavailable(dns_server):
    resolver = DnsResolver([dns_server.nameserver], timeout=PATIENT,
                           lifetime=PATIENT)
    dns_server.answer_servfail("flaky.example")
    assert resolver.query("flaky.example", "A").unavailable
    dns_server.clear()
    dns_server.add_records({"flaky.example": {"A": ["192.0.2.9"]}})
    assert resolver.query("flaky.example", "A").records == ("192.0.2.9",)
    assert resolver.queries_sent == 2


def test_cache_is_bounded(dns_server):
    dns_server.add_records({f"n{i}.example": {"A": [f"192.0.2.{i}"]} for i in range(3)})
    resolver = DnsResolver([dns_server.nameserver], timeout=PATIENT,
                           lifetime=PATIENT, cache_size=2)
    for i in range(3):
        resolver.query(f"n{i}.example", "A")
    resolver.query("n2.example", "A")  # still cached
    assert resolver.queries_sent == 3
    resolver.query("n0.example", "A")  # evicted as least recently used
    assert resolver.queries_sent == 4


def test_shared_across_threads(dns_server):
    dns_server.add_records({f"t{i}.example": {"A": [f"192.0.2.{i}"]} for i in range(20)})
    resolver = DnsResolver([dns_server.nameserver], timeout=1.0, lifetime=2.0)
    results: dict[int, tuple[str, ...]] = {}

    def work(worker: int) -> None:
        for i in range(20):
            results[worker * 100 + i] = resolver.query(f"t{i}.example", "A").records

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[w * 100 + i] == (f"192.0.2.{i}",) for w in range(8) for i in range(20))
    assert resolver.lookups == 160
    assert 20 <= resolver.queries_sent <= 160
    resolver.reset_counters()
    assert (resolver.lookups, resolver.queries_sent) == (0, 0)


def test_reverse_name():
    assert reverse_name("192.0.2.1") == "1.2.0.192.in-addr.arpa"
    assert reverse_name("2001:db8::1").endswith(".8.b.d.0.1.0.0.2.ip6.arpa")


def test_fixture_server_restarts_on_a_new_port():
    with FixtureDnsServer() as server:
        port = server.port
        server.add_records({"x.example": {"A": ["192.0.2.1"]}})
        resolver = DnsResolver([server.nameserver], timeout=0.5, lifetime=0.5, cache_size=0)
        assert resolver.query("x.example", "A").status is DnsStatus.ANSWER
    assert port > 0
