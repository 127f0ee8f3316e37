"""Fixtures for the sender-audit tests: a real DNS server on a loopback port."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ is not a package; the fixture DNS server is shared with bench/, so it
# is imported by its path from the repository root.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from auditor.resolver import DnsResolver  # noqa: E402
from tests.support.dns_server import FixtureDnsServer  # noqa: E402

# The fixture server answers every name that is not made silent at once, so
# ordinary tests can afford a patient resolver (a loaded CI machine can delay
# a loopback answer by a tenth of a second); tests of silent names use the
# impatient one so that each timeout costs a fraction of a second.
PATIENT_TIMEOUT = 2.0
IMPATIENT_TIMEOUT = 0.2


@pytest.fixture(scope="session")
def dns_server_session() -> Iterator[FixtureDnsServer]:
    with FixtureDnsServer() as server:
        yield server


@pytest.fixture
def dns_server(dns_server_session: FixtureDnsServer) -> Iterator[FixtureDnsServer]:
    """The shared server, emptied for each test; timeout./servfail. zones preset."""
    dns_server_session.clear()
    dns_server_session.never_answer("timeout.test")
    dns_server_session.answer_servfail("servfail.test")
    yield dns_server_session
    dns_server_session.clear()


@pytest.fixture
def resolver(dns_server: FixtureDnsServer) -> DnsResolver:
    """A non-caching resolver pointed at the fixture server (host:port)."""
    return DnsResolver(
        [dns_server.nameserver], timeout=PATIENT_TIMEOUT, lifetime=PATIENT_TIMEOUT,
        cache_size=0,
    )


@pytest.fixture
def impatient_resolver(dns_server: FixtureDnsServer) -> DnsResolver:
    """Like ``resolver``, but gives up after 0.2 s: for tests of silent names."""
    return DnsResolver(
        [dns_server.nameserver], timeout=IMPATIENT_TIMEOUT, lifetime=IMPATIENT_TIMEOUT,
        cache_size=0,
    )
