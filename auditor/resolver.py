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
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import dns.entropy
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
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
            # The system configuration (/etc/resolv.conf), read by dnspython.
            try:
                base = dns.resolver.Resolver(configure=True)
            except dns.exception.DNSException as error:
                raise ResolverConfigError(f"no system resolver configuration: {error}") from error
            servers = [
                (str(ns.address if hasattr(ns, "address") else ns), base.port)
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
        # Each thread keeps its own UDP sockets (see _socket()).
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

    @property
    def thread_lookups(self) -> int:
        """Lookups asked from the calling thread so far (for per-audit counts
        while other threads share the resolver)."""
        return getattr(self._local, "lookups", 0)

    def reset_counters(self) -> None:
        with self._counters.lock:
            self._counters.lookups = 0
            self._counters.sent = 0

    def clear_cache(self) -> None:
        if self._cache is not None:
            self._cache.clear()

    def query(self, name: str, rdtype: str) -> DnsResult:
        """Look up ``name``/``rdtype``; never raises for DNS outcomes."""
        qname = name.rstrip(".").lower()
        rdtype = rdtype.upper()
        key = (qname, rdtype)
        with self._counters.lock:
            self._counters.lookups += 1
        self._local.lookups = getattr(self._local, "lookups", 0) + 1
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

    def _socket(self, family: int) -> socket.socket:
        """This thread's UDP socket for ``family``, reused across lookups.

        A socket per lookup costs a bind and a close each time; late answers
        to an earlier lookup on a reused socket are discarded by dnspython
        because their query ID or question does not match.
        """
        sockets = getattr(self._local, "sockets", None)
        if sockets is None:
            sockets = self._local.sockets = {}
        sock = sockets.get(family)
        if sock is None:
            sock = sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
            # dnspython waits with select() and expects a non-blocking socket;
            # a blocking one would wait forever for an answer that never comes.
            sock.setblocking(False)
        return sock

    def _exchange_udp(
        self, name: dns.name.Name, rdtype: int, host: str, port: int, timeout: float
    ) -> dns.message.Message:
        """Send one query over this thread's UDP socket and wait for its answer.

        The query is written directly (header, uncompressed name, EDNS0 with
        a 1232-byte payload): rendering a dns.message.Message compresses
        names, which for 34-label ip6.arpa names costs more than the rest of
        the lookup. Answers with another ID, question or source are skipped.
        """
        query_id = dns.entropy.random_16()
        wire = (
            _HEADER.pack(query_id, dns.flags.RD, 1, 0, 0, 1)
            + name.to_wire()
            + _QUESTION.pack(rdtype, dns.rdataclass.IN)
            + _EDNS0_OPT
        )
        destination = (host, port)
        expiration = time.time() + timeout
        sock = self._socket(_family(host))
        dns.query.send_udp(sock, wire, destination, expiration)
        while True:
            # With a destination given, receive_udp returns (message, time).
            response = dns.query.receive_udp(
                sock, destination, expiration, ignore_unexpected=True, ignore_errors=True
            )[0]
            if response.id != query_id or not response.flags & dns.flags.QR:
                continue
            if (
                len(response.question) == 1
                and response.question[0].name == name
                and response.question[0].rdtype == rdtype
            ) or (response.flags & dns.flags.TC and not response.question):
                # Some servers drop the question from a truncated reply.
                return response

    def _ask(self, qname: str, rdtype: str) -> DnsResult:
        """One lookup: each server in turn until one answers NOERROR or
        NXDOMAIN, retrying after timeouts until ``lifetime`` is spent."""
        servers = self.servers_text
        if not qname or len(qname) > 253 or any(
            not 0 < len(label) <= 63 for label in qname.split(".")
        ):
            # A name that cannot be put on the wire does not exist.
            return DnsResult(qname, rdtype, DnsStatus.NXDOMAIN, server=servers)
        try:
            name = dns.name.from_text(qname)
            rdtype_value = dns.rdatatype.from_text(rdtype)
        except dns.exception.DNSException:
            return DnsResult(qname, rdtype, DnsStatus.NXDOMAIN, server=servers)
        deadline = time.monotonic() + self._lifetime
        while True:
            failures: list[str] = []
            for host, port in self._servers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                timeout = min(self._timeout, remaining)
                try:
                    response = self._exchange_udp(name, rdtype_value, host, port, timeout)
                    if response.flags & dns.flags.TC:
                        response = dns.query.tcp(
                            dns.message.make_query(name, rdtype_value), host, port=port,
                            timeout=timeout,
                        )
                except dns.exception.Timeout:
                    failures.append("timeout")
                    continue
                except (dns.exception.DNSException, OSError):
                    failures.append("error")
                    continue
                rcode = response.rcode()
                if rcode == dns.rcode.NXDOMAIN:
                    return DnsResult(qname, rdtype, DnsStatus.NXDOMAIN, server=servers,
                                     ttl=_negative_ttl(response))
                if rcode == dns.rcode.NOERROR:
                    return _answer(qname, rdtype, name=name, rdtype_value=rdtype_value,
                                   response=response, servers=servers)
                failures.append("refused" if rcode == dns.rcode.REFUSED else "servfail")
            if not failures or "timeout" not in failures or time.monotonic() >= deadline:
                # Every server answered with an error (dnspython's resolver
                # does not retry SERVFAIL either), or the lifetime is spent.
                return DnsResult(qname, rdtype, DnsStatus.UNAVAILABLE,
                                 reason=_worst(failures), server=servers)


_HEADER = struct.Struct("!HHHHHH")
_QUESTION = struct.Struct("!HH")
# OPT pseudo-RR (RFC 6891): root owner, type 41, UDP payload 1232, no flags.
_EDNS0_OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _worst(failures: list[str]) -> str:
    for reason in ("servfail", "refused", "timeout"):
        if reason in failures:
            return reason
    return "error" if failures else "timeout"


def _answer(
    qname: str,
    rdtype: str,
    *,
    name: dns.name.Name,
    rdtype_value: dns.rdatatype.RdataType,
    response: dns.message.Message,
    servers: str,
) -> DnsResult:
    """The records for ``name`` in a NOERROR response, following CNAMEs."""
    ttl: int | None = None
    for _ in range(16):
        rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, rdtype_value)
        if rrset is not None:
            ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
            return DnsResult(qname, rdtype, DnsStatus.ANSWER,
                             records=tuple(_present(rdata) for rdata in rrset),
                             server=servers, ttl=ttl)
        cname = response.get_rrset(
            response.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME
        )
        if cname is None:
            break
        ttl = cname.ttl if ttl is None else min(ttl, cname.ttl)
        name = cname[0].target
    return DnsResult(qname, rdtype, DnsStatus.NODATA, server=servers,
                     ttl=_negative_ttl(response))


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


def _negative_ttl(response: dns.message.Message | None) -> int:
    """RFC 2308 section 5: the lesser of the SOA TTL and its MINIMUM field."""
    if response is not None:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA:
                return min(rrset.ttl, rrset[0].minimum)
    return _DEFAULT_NEGATIVE_TTL
