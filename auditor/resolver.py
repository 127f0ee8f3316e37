"""The one DNS resolver every sender check goes through.

Every lookup ends in a typed :class:`DnsResult` whose ``status`` is one of
``answer``, ``nxdomain``, ``nodata`` or ``unavailable``. "Could not ask"
(timeout, SERVFAIL, REFUSED) is a status of its own so that no check can
mistake it for "there is no record": the audit fails closed on it.

The resolver is safe to share between threads; its optional cache respects
record TTLs, is bounded (least recently used entries go first) and never
stores an ``unavailable`` outcome.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from auditor.errors import ResolverConfigError

__all__ = [
    "DnsResolver",
    "DnsResult",
    "DnsStatus",
    "parse_nameserver",
    "reverse_name",
]

# Negative answers without an SOA in the authority section are kept this long.
_DEFAULT_NEGATIVE_TTL = 60
# Cap on how long any answer is kept, whatever its TTL says, so a long-running
# scheduler notices DNS changes on the next daily re-audit.
_MAX_CACHE_TTL = 3600


class DnsStatus(StrEnum):
    ANSWER = "answer"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class DnsResult:
    """The outcome of one lookup.

    ``records`` holds the answer in presentation form: TXT strings joined
    (RFC 7208 section 3.3) and decoded as UTF-8, A/AAAA addresses, PTR/CNAME
    names without the trailing dot, MX as ``"PREFERENCE HOST"``.
    ``reason`` says why a lookup is ``unavailable``: ``timeout``,
    ``servfail``, ``refused`` or ``error``.
    """

    name: str
    rdtype: str
    status: DnsStatus
    records: tuple[str, ...] = ()
    reason: str | None = None
    server: str = ""
    ttl: int = 0

    @property
    def unavailable(self) -> bool:
        return self.status is DnsStatus.UNAVAILABLE

    @property
    def void(self) -> bool:
        """True for a definite "nothing there" (NXDOMAIN or NODATA)."""
        return self.status in (DnsStatus.NXDOMAIN, DnsStatus.NODATA)

    def describe(self) -> str:
        """One line naming the name, type, server and outcome, for evidence."""
        what = self.reason if self.unavailable else self.status.value
        return f"{self.rdtype} {self.name} @ {self.server}: {what}"


def parse_nameserver(entry: str) -> tuple[str, int]:
    """Parse ``HOST[:PORT]`` (IPv6 as ``[ADDR]:PORT`` or a bare address).

    A host name is resolved once, here, through the system resolver.
    Raises :class:`ResolverConfigError` naming the bad entry.
    """
    text = entry.strip()
    if not text:
        raise ResolverConfigError("empty nameserver entry")
    host, port_text = text, ""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ResolverConfigError(f"nameserver {entry!r}: unbalanced '['")
        host, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ResolverConfigError(f"nameserver {entry!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = 53
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ResolverConfigError(f"nameserver {entry!r}: port must be 1-65535")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host = socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)[0][4][0]
        except OSError as error:
            raise ResolverConfigError(
                f"nameserver {entry!r}: {host!r} is neither an IP address nor resolvable"
            ) from error
    return host, port


def reverse_name(ip: str) -> str:
    """The in-addr.arpa / ip6.arpa name of an address, without trailing dot."""
    return dns.reversename.from_address(ip).to_text(omit_final_dot=True)


class _TtlCache:
    """Bounded LRU cache of lookup results keyed by (name, type), TTL-aware."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[float, DnsResult]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> DnsResult | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, result = entry
            if expires_at <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return result

    def put(self, key: tuple[str, str], result: DnsResult) -> None:
        if result.unavailable or result.ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + min(result.ttl, _MAX_CACHE_TTL), result)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class _Counters:
    lookups: int = 0
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class DnsResolver:
    """A configurable, thread-safe, optionally caching DNS resolver.

    ``nameservers``: ``HOST[:PORT]`` entries; ``None`` uses the system
    resolver configuration. ``timeout`` bounds one attempt at one server,
    ``lifetime`` the whole lookup. ``cache_size=0`` disables caching.
    """

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        *,
        timeout: float = 2.0,
        lifetime: float = 5.0,
        cache_size: int = 10_000,
    ) -> None:
        if timeout <= 0 or lifetime <= 0:
            raise ResolverConfigError("timeout and lifetime must be positive")
        if cache_size < 0:
            raise ResolverConfigError("cache_size must be >= 0")
        if nameservers is None:
            base = dns.resolver.Resolver(configure=True)
            servers = [
                (str(ns.address if hasattr(ns, "address") else ns), 53)
                for ns in base.nameservers
            ]
        else:
            servers = [parse_nameserver(entry) for entry in nameservers]
            if not servers:
                raise ResolverConfigError("nameservers must name at least one server")
        self._servers = servers
        self._timeout = timeout
        self._lifetime = lifetime
        self._cache = _TtlCache(cache_size) if cache_size else None
        self._counters = _Counters()
        # dnspython's Resolver is not documented as thread-safe for
        # concurrent resolve() calls; one per thread costs nothing.
        self._local = threading.local()

    @property
    def servers_text(self) -> str:
        return ", ".join(
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in self._servers
        )

    @property
    def caching(self) -> bool:
        return self._cache is not None

    @property
    def lookups(self) -> int:
        """Lookups asked of this resolver, cache hits included."""
        return self._counters.lookups

    @property
    def queries_sent(self) -> int:
        """Lookups that went to a nameserver (cache misses)."""
        return self._counters.sent

    def reset_counters(self) -> None:
        with self._counters.lock:
            self._counters.lookups = 0
            self._counters.sent = 0

    def clear_cache(self) -> None:
        if self._cache is not None:
            self._cache.clear()

    def _resolver(self) -> dns.resolver.Resolver:
        resolver = getattr(self._local, "resolver", None)
        if resolver is None:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in self._servers
            ]
            resolver.timeout = self._timeout
            resolver.lifetime = self._lifetime
            resolver.cache = None
            self._local.resolver = resolver
        return resolver

    def query(self, name: str, rdtype: str) -> DnsResult:
        """Look up ``name``/``rdtype``; never raises for DNS outcomes."""
        qname = name.rstrip(".").lower()
        rdtype = rdtype.upper()
        key = (qname, rdtype)
        with self._counters.lock:
            self._counters.lookups += 1
        if self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        with self._counters.lock:
            self._counters.sent += 1
        result = self._ask(qname, rdtype)
        if self._cache is not None:
            self._cache.put(key, result)
        return result

    def _ask(self, qname: str, rdtype: str) -> DnsResult:
        servers = self.servers_text
        if not qname or len(qname) > 253 or any(
            not 0 < len(label) <= 63 for label in qname.split(".")
        ):
            # A name that cannot be put on the wire does not exist.
            return DnsResult(qname, rdtype, DnsStatus.NXDOMAIN, server=servers)
        try:
            answer = self._resolver().resolve(
                dns.name.from_text(qname),
                rdtype,
                raise_on_no_answer=False,
                search=False,
            )
        except dns.resolver.NXDOMAIN as nx:
            return DnsResult(
                qname, rdtype, DnsStatus.NXDOMAIN, server=servers,
                ttl=_negative_ttl(_first_response(nx)),
            )
        except dns.resolver.NoNameservers as error:
            return DnsResult(
                qname, rdtype, DnsStatus.UNAVAILABLE,
                reason=_failure_reason(error), server=servers,
            )
        except dns.exception.Timeout:
            return DnsResult(
                qname, rdtype, DnsStatus.UNAVAILABLE, reason="timeout", server=servers
            )
        except (dns.exception.DNSException, OSError):
            return DnsResult(qname, rdtype, DnsStatus.UNAVAILABLE, reason="error", server=servers)
        if answer.rrset is None:
            return DnsResult(
                qname, rdtype, DnsStatus.NODATA, server=servers,
                ttl=_negative_ttl(answer.response),
            )
        return DnsResult(
            qname,
            rdtype,
            DnsStatus.ANSWER,
            records=tuple(_present(rdata) for rdata in answer.rrset),
            server=servers,
            ttl=answer.rrset.ttl,
        )


def _present(rdata: object) -> str:
    rdtype = rdata.rdtype  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        exchange = rdata.exchange.to_text(omit_final_dot=True)  # type: ignore[attr-defined]
        return f"{rdata.preference} {exchange.lower()}"  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.PTR, dns.rdatatype.CNAME):
        return rdata.target.to_text(omit_final_dot=True).lower()  # type: ignore[attr-defined]
    return rdata.to_text()  # type: ignore[attr-defined]


def _first_response(error: dns.resolver.NXDOMAIN) -> dns.message.Message | None:
    responses = error.responses()
    return next(iter(responses.values()), None) if responses else None


def _negative_ttl(response: dns.message.Message | None) -> int:
    """RFC 2308 section 5: the lesser of the SOA TTL and its MINIMUM field."""
    if response is not None:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA:
                return min(rrset.ttl, rrset[0].minimum)
    return _DEFAULT_NEGATIVE_TTL


def _failure_reason(error: dns.resolver.NoNameservers) -> str:
    reasons = set()
    for entry in error.kwargs.get("errors", []):
        response = entry[-1] if len(entry) >= 5 else None
        if isinstance(response, dns.message.Message):
            rcode = response.rcode()
            reasons.add("refused" if rcode == dns.rcode.REFUSED else "servfail")
        else:
            reasons.add("error")
    for reason in ("servfail", "refused"):
        if reason in reasons:
            return reason
    return "error"
