"""SPF (RFC 7208): record checks and the ``check_host()`` evaluation.

checkdmarc can be handed a ``dns.resolver.Resolver`` (so a ``HOST:PORT``
nameserver would work), but its lookups first consult a process-wide cache
keyed by name alone -- not by nameserver, not by record TTL -- and it reports
a lookup that timed out as "record not found". Both break the audit's
fail-closed rule, and it does not evaluate an IP at all. So the record is
parsed, validated and evaluated here, over the shared
:class:`auditor.resolver.DnsResolver`.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from auditor.errors import PermError, SpfError, TempError
from auditor.resolver import DnsResolver, DnsResult, DnsStatus, reverse_name

__all__ = [
    "DNS_LOOKUP_LIMIT",
    "VOID_LOOKUP_LIMIT",
    "Directive",
    "SpfRecord",
    "SpfRecordReport",
    "SpfResult",
    "analyze_record",
    "check_host",
    "expand_macros",
    "parse_record",
    "select_record",
]

# RFC 7208 section 4.6.4
DNS_LOOKUP_LIMIT = 10
VOID_LOOKUP_LIMIT = 2
_MX_PTR_NAME_LIMIT = 10

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_MODIFIER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_MACRO = re.compile(r"%(?:\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}|(.))")
_MACRO_LETTERS = frozenset("slodiphv")
_EXP_ONLY_LETTERS = frozenset("crt")
_VERSION = re.compile(r"^v=spf1(?: |$)", re.IGNORECASE)


# ----------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Directive:
    """One mechanism with its qualifier, e.g. ``~ip4:192.0.2.0/24``."""

    qualifier: str  # one of + - ~ ?
    mechanism: str  # all include a mx ptr ip4 ip6 exists
    domain_spec: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128
    text: str = ""

    @property
    def result(self) -> str:
        return _QUALIFIERS[self.qualifier]


@dataclass(frozen=True)
class SpfRecord:
    """A syntactically valid SPF record."""

    text: str
    directives: tuple[Directive, ...]
    redirect: str | None = None
    explanation: str | None = None  # the exp= domain-spec

    @property
    def lookup_terms(self) -> int:
        """Terms that cost one of the ten DNS lookups (section 4.6.4)."""
        return sum(1 for d in self.directives if d.mechanism in _LOOKUP_MECHANISMS) + (
            1 if self.redirect is not None else 0
        )

    @property
    def all_directive(self) -> Directive | None:
        return next((d for d in self.directives if d.mechanism == "all"), None)


def select_record(txt_records: tuple[str, ...] | list[str]) -> str | None:
    """The single SPF record among a name's TXT strings (section 4.5).

    Returns ``None`` when there is none; raises :class:`PermError` when
    there is more than one.
    """
    found = [r for r in txt_records if _VERSION.match(r)]
    if len(found) > 1:
        raise PermError(f"{len(found)} SPF records published; exactly one is allowed")
    return found[0] if found else None


def _validate_macro_string(value: str, *, in_exp: bool, where: str) -> None:
    position = 0
    while True:
        percent = value.find("%", position)
        if percent < 0:
            return
        match = _MACRO.match(value, percent)
        if match is None:
            raise PermError(f"{where}: '%' at the end of {value!r}")
        letter, _digits, _reverse, _delims, escape = match.groups()
        if escape is not None:
            if escape not in "%_-":
                raise PermError(f"{where}: invalid macro escape '%{escape}' in {value!r}")
        else:
            low = letter.lower()
            if low not in _MACRO_LETTERS and not (in_exp and low in _EXP_ONLY_LETTERS):
                raise PermError(f"{where}: unknown macro letter '{letter}' in {value!r}")
            if _digits and int(_digits) == 0:
                raise PermError(f"{where}: macro transformer 0 in {value!r}")
        position = match.end()


def _validate_domain_spec(value: str, where: str) -> None:
    if not value:
        raise PermError(f"{where}: empty domain-spec")
    if any(ch.isspace() for ch in value):
        raise PermError(f"{where}: whitespace in domain-spec {value!r}")
    _validate_macro_string(value, in_exp=False, where=where)
    if "%" not in value:
        # domain-end (section 12): the last label is a toplabel, not numeric.
        labels = value.rstrip(".").split(".")
        if len(labels) < 2 or not labels[-1] or labels[-1].isdigit():
            raise PermError(f"{where}: {value!r} is not a fully qualified domain name")


def _split_cidr(
    value: str, mechanism: str, where: str
) -> tuple[str | None, int, int]:
    """Split ``domain/cidr4//cidr6`` (a and mx)."""
    cidr4, cidr6 = 32, 128
    match = re.search(r"(?:/(\d+))?(?://(\d+))?$", value)
    head = value
    if match and match.group(0):
        head = value[: match.start()]
        if match.group(1) is not None:
            cidr4 = int(match.group(1))
            if cidr4 > 32 or (len(match.group(1)) > 1 and match.group(1).startswith("0")):
                raise PermError(f"{where}: bad IPv4 prefix length in {mechanism}")
        if match.group(2) is not None:
            cidr6 = int(match.group(2))
            if cidr6 > 128 or (len(match.group(2)) > 1 and match.group(2).startswith("0")):
                raise PermError(f"{where}: bad IPv6 prefix length in {mechanism}")
    return (head or None), cidr4, cidr6


def _parse_directive(term: str, where: str) -> Directive:
    qualifier = "+"
    body = term
    if body[0] in _QUALIFIERS:
        qualifier, body = body[0], body[1:]
    name, sep, arg = body.partition(":")
    lowered = name.lower()
    if "/" in name and not sep:
        lowered = name.split("/", 1)[0].lower()
        arg = name[len(lowered):]
    if lowered not in _MECHANISMS:
        raise PermError(f"{where}: unknown mechanism {term!r}")
    if lowered == "all":
        if sep or arg:
            raise PermError(f"{where}: 'all' takes no argument ({term!r})")
        return Directive(qualifier, "all", text=term)
    if lowered in ("ip4", "ip6"):
        if not sep or not arg:
            raise PermError(f"{where}: {lowered} needs an address ({term!r})")
        address, slash, prefix = arg.partition("/")
        try:
            ip = ipaddress.ip_address(address)
            if (ip.version == 4) != (lowered == "ip4"):
                raise ValueError(address)
            if slash and (not prefix.isdigit() or (len(prefix) > 1 and prefix[0] == "0")):
                raise ValueError(prefix)
            network = ipaddress.ip_network(f"{address}/{prefix or ip.max_prefixlen}", strict=False)
        except ValueError as error:
            raise PermError(f"{where}: bad address in {term!r}") from error
        return Directive(qualifier, lowered, network=network, text=term)
    if lowered in ("include", "exists"):
        if not sep:
            raise PermError(f"{where}: {lowered} needs a domain ({term!r})")
        _validate_domain_spec(arg, where)
        return Directive(qualifier, lowered, domain_spec=arg, text=term)
    if lowered == "ptr":
        if sep:
            _validate_domain_spec(arg, where)
        return Directive(qualifier, "ptr", domain_spec=arg if sep else None, text=term)
    # a, mx: [":" domain-spec] [dual-cidr-length]
    if sep and not arg:
        raise PermError(f"{where}: empty domain after {lowered}: ({term!r})")
    domain_spec, cidr4, cidr6 = _split_cidr(arg, lowered, where)
    if sep and domain_spec is None:
        raise PermError(f"{where}: empty domain in {term!r}")
    if domain_spec is not None:
        _validate_domain_spec(domain_spec, where)
    return Directive(qualifier, lowered, domain_spec=domain_spec, cidr4=cidr4, cidr6=cidr6,
                     text=term)


def parse_record(text: str, domain: str = "") -> SpfRecord:
    """Parse a whole SPF record; any syntax error raises :class:`PermError`.

    Section 4.6: a syntax error anywhere makes the whole record permerror,
    before any term is evaluated.
    """
    where = f"SPF record of {domain}" if domain else "SPF record"
    if not _VERSION.match(text):
        raise PermError(f"{where}: does not start with 'v=spf1'")
    directives: list[Directive] = []
    redirect: str | None = None
    explanation: str | None = None
    for term in text[6:].split(" "):
        if not term:
            continue
        if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in term):
            raise PermError(f"{where}: non-printable or non-ASCII character in {term!r}")
        name, eq, value = term.partition("=")
        if eq and _MODIFIER_NAME.match(name) and ":" not in name and "/" not in name:
            lowered = name.lower()
            if lowered == "redirect":
                if redirect is not None:
                    raise PermError(f"{where}: more than one redirect= modifier")
                _validate_domain_spec(value, where)
                redirect = value
            elif lowered == "exp":
                if explanation is not None:
                    raise PermError(f"{where}: more than one exp= modifier")
                _validate_domain_spec(value, where)
                explanation = value
            else:
                # Unknown modifiers are ignored, but their macros must parse.
                _validate_macro_string(value, in_exp=False, where=where)
            continue
        directives.append(_parse_directive(term, where))
    return SpfRecord(text, tuple(directives), redirect, explanation)


# ----------------------------------------------------------------------------
# Macros (section 7)
# ----------------------------------------------------------------------------
@dataclass
class _MacroContext:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    domain: str
    validated_name: str | None = None  # %{p}, filled on first use
    receiver: str = "unknown"

    @property
    def local_part(self) -> str:
        local, _, _ = self.sender.rpartition("@")
        return local or "postmaster"

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2] or self.helo


def _ip_dotted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def expand_macros(
    value: str,
    *,
    ip: str,
    sender: str,
    helo: str,
    domain: str,
    validated_name: str | None = None,
    explanation: bool = False,
    now: int | None = None,
) -> str:
    """Expand an SPF macro-string (section 7.3) without DNS lookups.

    ``%{p}`` expands to ``validated_name`` (or "unknown"); ``check_host``
    looks the name up itself. ``explanation=True`` also allows %{c} %{r} %{t}.
    """
    ctx = _MacroContext(ipaddress.ip_address(ip), sender, helo, domain, validated_name)
    return _expand(value, ctx, explanation=explanation, now=now)


def _expand(value: str, ctx: _MacroContext, *, explanation: bool, now: int | None = None,
            resolve_p: Callable[[], str] | None = None) -> str:
    out: list[str] = []
    position = 0
    while True:
        percent = value.find("%", position)
        if percent < 0:
            out.append(value[position:])
            break
        out.append(value[position:percent])
        match = _MACRO.match(value, percent)
        if match is None:
            raise PermError(f"'%' at the end of macro-string {value!r}")
        letter, digits, reverse, delimiters, escape = match.groups()
        position = match.end()
        if escape is not None:
            replacement = {"%": "%", "_": " ", "-": "%20"}.get(escape)
            if replacement is None:
                raise PermError(f"invalid macro escape '%{escape}'")
            out.append(replacement)
            continue
        low = letter.lower()
        if low in _EXP_ONLY_LETTERS and not explanation:
            raise PermError(f"macro %{{{letter}}} is only allowed in explanations")
        if low == "s":
            raw = ctx.sender if "@" in ctx.sender else f"postmaster@{ctx.sender_domain}"
        elif low == "l":
            raw = ctx.local_part
        elif low == "o":
            raw = ctx.sender_domain
        elif low == "d":
            raw = ctx.domain
        elif low == "i":
            raw = _ip_dotted(ctx.ip)
        elif low == "p":
            if ctx.validated_name is None and resolve_p is not None:
                ctx.validated_name = resolve_p()
            raw = ctx.validated_name or "unknown"
        elif low == "v":
            raw = "in-addr" if ctx.ip.version == 4 else "ip6"
        elif low == "h":
            raw = ctx.helo
        elif low == "c":
            raw = str(ctx.ip)
        elif low == "r":
            raw = ctx.receiver
        elif low == "t":
            raw = str(now if now is not None else 0)
        else:
            raise PermError(f"unknown macro letter '{letter}'")
        parts = re.split("[" + re.escape(delimiters or ".") + "]", raw)
        if reverse:
            parts.reverse()
        if digits:
            count = int(digits)
            if count == 0:
                raise PermError("macro transformer 0")
            parts = parts[-count:]
        expanded = ".".join(parts)
        if letter.isupper():
            expanded = urllib.parse.quote(expanded, safe="-._~")
        out.append(expanded)
    return "".join(out)


def _truncate_domain(name: str) -> str:
    """Section 7.3: drop left labels until the name fits in 253 octets."""
    name = name.rstrip(".")
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    return name


# ----------------------------------------------------------------------------
# check_host (section 4)
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpfResult:
    """The outcome of ``check_host()``.

    ``mechanism`` is the directive that decided the result (``"default"``
    when no directive matched and no redirect applied); ``domain`` is the
    domain whose record held it. ``problem`` explains temperror/permerror;
    ``failed_lookup`` names the lookup behind a temperror.
    """

    result: str
    explanation: str | None = None
    mechanism: str | None = None
    domain: str = ""
    dns_lookups: int = 0
    void_lookups: int = 0
    problem: str | None = None
    failed_lookup: DnsResult | None = None
    exceeded_limit: str | None = None  # "dns_lookups" or "void_lookups" for such permerrors


class _VoidLimitError(PermError):
    pass


class _LookupLimitError(PermError):
    pass


@dataclass
class _Evaluation:
    resolver: DnsResolver
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    lookups: int = 0
    voids: int = 0
    decided_by: str | None = None
    decided_domain: str = ""
    explanation: str | None = None
    include_depth: int = 0
    seen: list[str] = field(default_factory=list)

    def count_lookup(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > DNS_LOOKUP_LIMIT:
            raise _LookupLimitError(
                f"more than {DNS_LOOKUP_LIMIT} DNS-querying terms (at {term!r})"
            )

    def query(self, name: str, rdtype: str, *, void_counts: bool = True) -> DnsResult:
        result = self.resolver.query(name, rdtype)
        if result.unavailable:
            raise TempError(f"DNS lookup failed: {result.describe()}", result)
        if result.void and void_counts:
            self.voids += 1
            if self.voids > VOID_LOOKUP_LIMIT:
                raise _VoidLimitError(
                    f"more than {VOID_LOOKUP_LIMIT} lookups returned no records "
                    f"(last: {rdtype} {name})"
                )
        return result

    def address_records(self, name: str) -> tuple[str, ...]:
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        return self.query(name, rdtype).records

    def validated_names(self, limit: int = _MX_PTR_NAME_LIMIT) -> list[str]:
        """Section 5.5: PTR names that resolve back to the IP."""
        ptr = self.resolver.query(reverse_name(str(self.ip)), "PTR")
        if ptr.status is not DnsStatus.ANSWER:
            return []
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        names = []
        for name in ptr.records[:limit]:
            forward = self.resolver.query(name, rdtype)
            if forward.status is DnsStatus.ANSWER and any(
                ipaddress.ip_address(a) == self.ip for a in forward.records
            ):
                names.append(name)
        return names


def _fetch_record(ev: _Evaluation, domain: str) -> SpfRecord | None:
    txt = ev.resolver.query(domain, "TXT")
    if txt.unavailable:
        raise TempError(f"DNS lookup failed: {txt.describe()}", txt)
    if txt.status is not DnsStatus.ANSWER:
        return None
    text = select_record(txt.records)
    if text is None:
        return None
    return parse_record(text, domain)


def _target(ev: _Evaluation, directive_spec: str | None, domain: str) -> str:
    if directive_spec is None:
        return domain
    ctx = _MacroContext(ev.ip, ev.sender, ev.helo, domain)
    return _truncate_domain(
        _expand(directive_spec, ctx, explanation=False, resolve_p=lambda: _p_name(ev, domain))
    )


def _p_name(ev: _Evaluation, domain: str) -> str:
    names = ev.validated_names()
    for candidate in names:
        if candidate == domain:
            return candidate
    for candidate in names:
        if candidate.endswith("." + domain):
            return candidate
    return names[0] if names else "unknown"


def _in_cidr(address: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, d: Directive) -> bool:
    try:
        candidate = ipaddress.ip_address(address)
    except ValueError:
        return False
    if candidate.version != ip.version:
        return False
    prefix = d.cidr4 if ip.version == 4 else d.cidr6
    return ip in ipaddress.ip_network(f"{candidate}/{prefix}", strict=False)


def _matches(ev: _Evaluation, d: Directive, domain: str) -> bool:
    if d.mechanism == "all":
        return True
    if d.mechanism in ("ip4", "ip6"):
        assert d.network is not None
        return d.network.version == ev.ip.version and ev.ip in d.network
    ev.count_lookup(d.text)
    target = _target(ev, d.domain_spec, domain)
    if d.mechanism == "include":
        # temperror and permerror inside the include arrive as exceptions and
        # end the whole evaluation with the same result (section 5.2).
        outcome = _check(ev, target, include=True)
        if outcome == "none":
            raise PermError(f"include:{target} has no SPF record")
        return outcome == "pass"
    if d.mechanism == "a":
        return any(_in_cidr(a, ev.ip, d) for a in ev.address_records(target))
    if d.mechanism == "mx":
        mx = ev.query(target, "MX")
        hosts = [r.split(" ", 1)[1] for r in mx.records if " " in r]
        if len(hosts) > _MX_PTR_NAME_LIMIT:
            raise PermError(f"mx:{target} has {len(hosts)} MX names; at most 10 are evaluated")
        rdtype = "A" if ev.ip.version == 4 else "AAAA"
        for host in hosts:
            if host in ("", "."):
                continue
            addresses = ev.query(host, rdtype, void_counts=False).records
            if any(_in_cidr(a, ev.ip, d) for a in addresses):
                return True
        return False
    if d.mechanism == "ptr":
        ptr = ev.resolver.query(reverse_name(str(ev.ip)), "PTR")
        if ptr.void:
            ev.voids += 1
            if ev.voids > VOID_LOOKUP_LIMIT:
                raise _VoidLimitError(f"more than {VOID_LOOKUP_LIMIT} void lookups (PTR)")
        return any(n == target or n.endswith("." + target) for n in ev.validated_names())
    if d.mechanism == "exists":
        return ev.query(target, "A").status is DnsStatus.ANSWER
    raise PermError(f"unknown mechanism {d.mechanism}")


def _explain(ev: _Evaluation, record: SpfRecord, domain: str) -> str | None:
    """Section 6.2: any failure here just means "no explanation"."""
    if record.explanation is None:
        return None
    try:
        ctx = _MacroContext(ev.ip, ev.sender, ev.helo, domain)
        name = _truncate_domain(_expand(record.explanation, ctx, explanation=False))
        txt = ev.resolver.query(name, "TXT")
        if txt.status is not DnsStatus.ANSWER or len(txt.records) != 1:
            return None
        text = txt.records[0]
        if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in text):
            return None
        return _expand(text, ctx, explanation=True, now=int(time.time()),
                       resolve_p=lambda: _p_name(ev, domain))
    except SpfError:
        return None


def _check(ev: _Evaluation, domain: str, *, include: bool = False) -> str:
    if not _is_fqdn(domain):
        return "none"
    if domain in ev.seen:
        raise PermError(f"include/redirect loop through {domain}")
    ev.seen.append(domain)
    try:
        record = _fetch_record(ev, domain)
        if record is None:
            return "none"
        for directive in record.directives:
            if _matches(ev, directive, domain):
                if not include:
                    ev.decided_by = directive.text
                    ev.decided_domain = domain
                result = directive.result
                if result == "fail" and not include:
                    ev.explanation = _explain(ev, record, domain)
                return result
        if record.redirect is not None:
            ev.count_lookup(f"redirect={record.redirect}")
            target = _target(ev, record.redirect, domain)
            outcome = _check(ev, target, include=include)
            if outcome == "none":
                raise PermError(f"redirect={target} has no SPF record")
            return outcome
        if not include:
            ev.decided_by = "default"
            ev.decided_domain = domain
        return "neutral"
    finally:
        ev.seen.pop()


def _is_fqdn(domain: str) -> bool:
    labels = domain.rstrip(".").split(".")
    return len(labels) >= 2 and all(0 < len(label) <= 63 for label in labels) and len(
        domain
    ) <= 253


def check_host(ip: str, sender: str, helo: str, *, resolver: DnsResolver,
               domain: str | None = None) -> SpfResult:
    """RFC 7208 ``check_host(<ip>, <domain>, <sender>)``.

    ``sender`` is the MAIL FROM address (``local@domain``) or, for an empty
    MAIL FROM, a bare domain (the HELO identity); ``domain`` defaults to the
    sender's domain. Never raises for DNS or record problems: they are the
    ``temperror``/``permerror`` results.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError as error:
        raise ValueError(f"check_host: {ip!r} is not an IP address") from error
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if "@" not in sender:
        sender = f"postmaster@{sender or helo}"
    start = (domain or sender.rpartition("@")[2]).rstrip(".").lower()
    ev = _Evaluation(resolver, address, sender, helo)
    try:
        result = _check(ev, start)
    except TempError as error:
        return SpfResult("temperror", domain=start, dns_lookups=ev.lookups,
                         void_lookups=ev.voids, problem=str(error),
                         failed_lookup=error.lookup if isinstance(error.lookup, DnsResult)
                         else None)
    except PermError as error:
        limit = None
        if isinstance(error, _LookupLimitError):
            limit = "dns_lookups"
        elif isinstance(error, _VoidLimitError):
            limit = "void_lookups"
        return SpfResult("permerror", domain=start, dns_lookups=ev.lookups,
                         void_lookups=ev.voids, problem=str(error), exceeded_limit=limit)
    return SpfResult(
        result,
        explanation=ev.explanation if result == "fail" else None,
        mechanism=ev.decided_by,
        domain=ev.decided_domain or start,
        dns_lookups=ev.lookups,
        void_lookups=ev.voids,
    )


# ----------------------------------------------------------------------------
# Record report (independent of any IP)
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpfRecordReport:
    """What the published record tree looks like, without evaluating an IP.

    ``dns_lookups`` counts every DNS-querying term reachable through include
    and redirect (what every receiver may have to spend); terms whose target
    needs macro expansion count but are not followed. ``status`` is one of
    ``ok``, ``missing``, ``invalid``, ``unavailable``.
    """

    domain: str
    status: str
    record: str | None = None
    dns_lookups: int = 0
    void_lookups: int = 0
    void_names: tuple[str, ...] = ()
    all_qualifier: str | None = None  # qualifier of the top-level (or redirected) 'all'
    problem: str | None = None
    failed_lookup: DnsResult | None = None

    @property
    def valid(self) -> bool:
        return self.status == "ok"


def analyze_record(domain: str, *, resolver: DnsResolver) -> SpfRecordReport:
    """Fetch and check the SPF record of ``domain`` (sections 4.5, 4.6, 4.6.4)."""
    domain = domain.rstrip(".").lower()
    txt = resolver.query(domain, "TXT")
    if txt.unavailable:
        return SpfRecordReport(domain, "unavailable", problem=txt.describe(), failed_lookup=txt)
    try:
        text = select_record(txt.records) if txt.status is DnsStatus.ANSWER else None
    except PermError as error:
        return SpfRecordReport(domain, "invalid", record=" | ".join(
            r for r in txt.records if _VERSION.match(r)), problem=str(error))
    if text is None:
        return SpfRecordReport(domain, "missing")
    walk = _Walk(resolver)
    try:
        record = parse_record(text, domain)
        all_qualifier = walk.visit(record, domain)
    except TempError as error:
        return SpfRecordReport(
            domain, "unavailable", record=text, problem=str(error),
            failed_lookup=error.lookup if isinstance(error.lookup, DnsResult) else None,
        )
    except PermError as error:
        return SpfRecordReport(domain, "invalid", record=text, dns_lookups=walk.lookups,
                               void_lookups=len(walk.voids), void_names=tuple(walk.voids),
                               problem=str(error))
    return SpfRecordReport(
        domain, "ok", record=text, dns_lookups=walk.lookups,
        void_lookups=len(walk.voids), void_names=tuple(walk.voids),
        all_qualifier=all_qualifier,
    )


@dataclass
class _Walk:
    resolver: DnsResolver
    lookups: int = 0
    voids: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)

    def _query(self, name: str, rdtype: str) -> DnsResult:
        result = self.resolver.query(name, rdtype)
        if result.unavailable:
            raise TempError(f"DNS lookup failed: {result.describe()}", result)
        return result

    def visit(self, record: SpfRecord, domain: str) -> str | None:
        """Count the record's lookups (following includes and redirect) and
        return the qualifier of its final ``all`` (through a redirect)."""
        if domain in self.stack:
            raise PermError(f"include/redirect loop through {domain}")
        self.stack.append(domain)
        try:
            for d in record.directives:
                if d.mechanism not in _LOOKUP_MECHANISMS:
                    continue
                self.lookups += 1
                if d.domain_spec is not None and "%" in d.domain_spec:
                    continue
                target = (d.domain_spec or domain).rstrip(".").lower()
                if d.mechanism == "include":
                    included = self._record_at(target, f"include:{target}")
                    self.visit(included, target)
                elif d.mechanism in ("a", "mx", "exists"):
                    rdtype = {"a": "A", "mx": "MX", "exists": "A"}[d.mechanism]
                    answer = self._query(target, rdtype)
                    if answer.void and d.mechanism == "a":
                        # An a mechanism is void only if neither family exists.
                        answer = self._query(target, "AAAA")
                    if answer.void:
                        self.voids.append(f"{d.mechanism}:{target}")
            all_directive = record.all_directive
            if record.redirect is not None:
                self.lookups += 1
                if all_directive is None and "%" not in record.redirect:
                    target = record.redirect.rstrip(".").lower()
                    redirected = self._record_at(target, f"redirect={target}")
                    return self.visit(redirected, target)
            return all_directive.qualifier if all_directive is not None else None
        finally:
            self.stack.pop()

    def _record_at(self, target: str, term: str) -> SpfRecord:
        txt = self._query(target, "TXT")
        text = select_record(txt.records) if txt.status is DnsStatus.ANSWER else None
        if text is None:
            raise PermError(f"{term}: {target} has no SPF record")
        return parse_record(text, target)
