"""A real authoritative DNS server for tests and benchmarks, built on dnslib.

It serves fixture records from Python dicts or zone-file text on a free
loopback port, UDP and TCP, from background threads::

    server = FixtureDnsServer()
    server.add_records({"example.com": {"TXT": ["v=spf1 -all"], "A": ["192.0.2.1"]}})
    server.add_zone_text("mail.example.com. 300 IN A 192.0.2.2")
    server.never_answer("slow.example")      # drops every query under it
    server.answer_servfail("broken.example")  # SERVFAIL for every query under it
    with server:
        ...  # server.nameserver == "127.0.0.1:PORT"

Names that hold no record at all answer NXDOMAIN, except empty non-terminals
(names that only have records below them), which answer NODATA. CNAMEs are
followed within the fixture data. ``*.`` wildcard owners are supported.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Self

from dnslib import QTYPE, RCODE, RR, SOA, DNSRecord
from dnslib.server import DNSError, DNSServer

_TXT_CHUNK = 255


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


def _quote_txt(value: str) -> str:
    data = value.encode()
    chunks = [data[i : i + _TXT_CHUNK] for i in range(0, len(data), _TXT_CHUNK)] or [b""]
    quoted = []
    for chunk in chunks:
        text = chunk.decode(errors="surrogateescape")
        quoted.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(quoted)


class _QuietLogger:
    """dnslib logs every packet to stdout by default; tests want silence."""

    def __getattr__(self, _name: str):
        return lambda *args, **kwargs: None


class _UdpLoop:
    """One thread answering UDP queries in turn.

    dnslib's UDP server starts a thread per packet, which caps a benchmark at
    a few hundred queries per second; answering from one loop is faster and
    still lets "never answer" names simply get no reply.
    """

    def __init__(self, server: FixtureDnsServer, sock: socket.socket) -> None:
        self._server = server
        self._sock = sock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fixture-dns-udp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        self._sock.settimeout(0.05)
        while not self._stopping.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            wire = self._server.answer_wire(data, udp=True)
            if wire is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendto(wire, peer)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self._sock.close()


class _FixtureResolver:
    def __init__(self, server: FixtureDnsServer) -> None:
        self._server = server

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        return self._server.answer(request)


class FixtureDnsServer:
    """Serves fixture records; start()/stop() or use as a context manager."""

    def __init__(self, address: str = "127.0.0.1", ttl: int = 300) -> None:
        self.address = address
        self.ttl = ttl
        self._records: dict[str, list[RR]] = {}
        # Every proper ancestor of an owner name: these exist (empty
        # non-terminals answer NODATA, not NXDOMAIN).
        self._ancestors: set[str] = set()
        # (name, rdtype or None, subtree)
        self._silent: set[tuple[str, str | None, bool]] = set()
        self._servfail: set[tuple[str, str | None, bool]] = set()
        self._refused: set[tuple[str, str | None, bool]] = set()
        self._lock = threading.Lock()
        self._wire_cache: dict[bytes, bytes] = {}
        self._tcp: DNSServer | None = None
        self._udp: _UdpLoop | None = None
        self.port = 0
        self.queries = 0
        # When set, every UDP reply is an empty one with TC=1, so that clients
        # must repeat the query over TCP.
        self.truncate_udp = False

    # ----- fixture data -------------------------------------------------
    def add_records(self, records: Mapping[str, Mapping[str, Iterable[str] | str]]) -> None:
        """Add ``{name: {TYPE: [rdata, ...]}}``; TXT values are plain text."""
        lines = []
        for name, by_type in records.items():
            for rdtype, values in by_type.items():
                for value in [values] if isinstance(values, str) else values:
                    rdata = _quote_txt(value) if rdtype.upper() == "TXT" else value
                    lines.append(f"{_norm(name)}. {self.ttl} IN {rdtype.upper()} {rdata}")
        self.add_zone_text("\n".join(lines))

    def add_zone_text(self, text: str, origin: str | None = None) -> None:
        """Add records written in zone-file syntax."""
        rrs = RR.fromZone(text, origin=origin, ttl=self.ttl)
        with self._lock:
            self._wire_cache.clear()
            for rr in rrs:
                owner = _norm(str(rr.rname))
                existing = self._records.setdefault(owner, [])
                # An RRset holds each record once (RFC 2181 section 5).
                if any(e.rtype == rr.rtype and e.rdata == rr.rdata for e in existing):
                    continue
                existing.append(rr)
                labels = owner.split(".")
                self._ancestors.update(".".join(labels[i:]) for i in range(1, len(labels)))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._wire_cache.clear()
            self._ancestors.clear()
            self._silent.clear()
            self._servfail.clear()
            self._refused.clear()

    def never_answer(self, name: str, *, rdtype: str | None = None, subtree: bool = True) -> None:
        """Drop queries for ``name`` (and, with ``subtree``, every name below
        it), optionally only of one type: the client sees a timeout."""
        self._silent.add((_norm(name), rdtype.upper() if rdtype else None, subtree))
        self._wire_cache.clear()

    def answer_servfail(
        self, name: str, *, rdtype: str | None = None, subtree: bool = True
    ) -> None:
        """Answer SERVFAIL for ``name`` (and, with ``subtree``, below it)."""
        self._servfail.add((_norm(name), rdtype.upper() if rdtype else None, subtree))
        self._wire_cache.clear()

    def answer_refused(
        self, name: str, *, rdtype: str | None = None, subtree: bool = True
    ) -> None:
        """Answer REFUSED for ``name`` (and, with ``subtree``, below it)."""
        self._refused.add((_norm(name), rdtype.upper() if rdtype else None, subtree))
        self._wire_cache.clear()

    @property
    def nameserver(self) -> str:
        """``HOST:PORT`` for the resolver under test."""
        return f"{self.address}:{self.port}"

    # ----- answering ----------------------------------------------------
    @staticmethod
    def _under(name: str, qtype: str, rules: set[tuple[str, str | None, bool]]) -> bool:
        return any(
            (name == rule or (subtree and name.endswith("." + rule)))
            and (rdtype is None or rdtype == qtype)
            for rule, rdtype, subtree in rules
        )

    def _owner_records(self, name: str) -> list[RR] | None:
        records = self._records.get(name)
        if records is not None:
            return records
        labels = name.split(".")
        for i in range(1, len(labels)):
            wildcard = "*." + ".".join(labels[i:])
            if wildcard in self._records:
                # An existing name closer than the wildcard blocks it.
                # A name that exists between the query and the wildcard blocks it.
                between = (".".join(labels[j:]) for j in range(i))
                if any(n in self._ancestors or n in self._records for n in between):
                    return None
                return self._records[wildcard]
        return None

    def answer_wire(self, data: bytes, *, udp: bool = False) -> bytes | None:
        """The reply to one query packet, or None for no reply at all.

        Replies depend only on the query minus its ID and on the fixture
        data, so they are kept per packet until the data changes: parsing
        and building DNS messages in Python would otherwise make this server,
        not the client, what a benchmark measures.
        """
        if len(data) < 12:
            return None
        if udp and self.truncate_udp:
            try:
                reply = DNSRecord.parse(data).reply()
            except DNSError:
                return None
            reply.header.tc = 1
            return reply.pack()
        key = data[2:]
        cached = self._wire_cache.get(key)
        if cached is not None:
            self.queries += 1
            return data[:2] + cached
        try:
            wire = self.answer(DNSRecord.parse(data)).pack()
        except DNSError:
            return None  # a silent name, or a packet dnslib cannot parse
        with self._lock:
            self._wire_cache[key] = wire[2:]
        return wire

    def answer(self, request: DNSRecord) -> DNSRecord:
        self.queries += 1
        qname = _norm(str(request.q.qname))
        qtype_name = QTYPE.get(request.q.qtype, str(request.q.qtype))
        if self._under(qname, qtype_name, self._silent):
            # dnslib's handler sends nothing when the resolver raises DNSError.
            raise DNSError("fixture: this name never answers")
        reply = request.reply()
        if self._under(qname, qtype_name, self._servfail):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if self._under(qname, qtype_name, self._refused):
            reply.header.rcode = RCODE.REFUSED
            return reply
        qtype = request.q.qtype
        name = qname
        with self._lock:
            for _ in range(8):
                records = self._owner_records(name)
                if records is None:
                    if name == qname and name not in self._ancestors:
                        reply.header.rcode = RCODE.NXDOMAIN
                    break
                matching = [rr for rr in records if qtype in (rr.rtype, QTYPE.ANY)]
                if matching:
                    for rr in matching:
                        reply.add_answer(self._owned_by(rr, name))
                    break
                cnames = [rr for rr in records if rr.rtype == QTYPE.CNAME]
                if not cnames:
                    break
                reply.add_answer(self._owned_by(cnames[0], name))
                name = _norm(str(cnames[0].rdata.label))
        if not reply.rr:
            reply.add_auth(
                RR("fixture.", QTYPE.SOA, ttl=self.ttl,
                   rdata=SOA("ns.fixture.", "hostmaster.fixture.", (1, 3600, 600, 86400, 60)))
            )
        return reply

    @staticmethod
    def _owned_by(rr: RR, name: str) -> RR:
        if _norm(str(rr.rname)) == name:
            return rr
        return RR(name, rr.rtype, rclass=rr.rclass, ttl=rr.ttl, rdata=rr.rdata)

    # ----- lifecycle ----------------------------------------------------
    def _free_port(self) -> int:
        """A port free for both UDP and TCP on the listen address."""
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((self.address, 0))
                port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((self.address, port))
                except OSError:
                    continue
            return port
        raise RuntimeError("no free loopback port for UDP and TCP")

    def start(self) -> Self:
        resolver = _FixtureResolver(self)
        for attempt in range(5):
            port = self._free_port()
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind((self.address, port))
                tcp = DNSServer(
                    resolver, address=self.address, port=port, tcp=True, logger=_QuietLogger()
                )
            except OSError:
                udp.close()
                if attempt == 4:
                    raise
                continue
            self.port = port
            self._tcp = tcp
            self._udp = _UdpLoop(self, udp)
            self._udp.start()
            # serve_forever's default 0.5 s poll would make every stop() wait that long.
            threading.Thread(
                target=tcp.server.serve_forever, kwargs={"poll_interval": 0.05},
                name="fixture-dns-tcp", daemon=True,
            ).start()
            return self
        raise RuntimeError("could not start the fixture DNS server")

    def stop(self) -> None:
        if self._udp is not None:
            self._udp.stop()
            self._udp = None
        if self._tcp is not None:
            with contextlib.suppress(OSError):
                self._tcp.stop()
                self._tcp.server.server_close()
            self._tcp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
