"""Fixed-IP identity: reverse DNS, forward confirmation, generic names, HELO."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cache

from auditor.errors import CatalogueError
from auditor.findings import Finding, load_data_file, make_finding, unavailable_finding
from auditor.resolver import DnsResolver, DnsStatus, reverse_name

__all__ = ["GenericNamePatterns", "IpIdentityReport", "check_ip_identity", "generic_name_reason"]

# Forward-confirming more PTR names than this is not worth the lookups.
_MAX_PTR_NAMES = 10


@dataclass(frozen=True)
class GenericNamePatterns:
    ip_digits: bool
    patterns: tuple[tuple[re.Pattern[str], str], ...]


@cache
def _default_patterns() -> GenericNamePatterns:
    raw = load_data_file("ptr_patterns.yaml")
    try:
        compiled = tuple(
            (re.compile(entry["pattern"], re.IGNORECASE), str(entry["why"]))
            for entry in raw["patterns"]
        )
        return GenericNamePatterns(bool(raw.get("ip_digits", True)), compiled)
    except (KeyError, TypeError, re.error) as error:
        raise CatalogueError(f"auditor/data/ptr_patterns.yaml: {error}") from error


def _ip_forms(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """Ways an address is commonly written into a generated host name."""
    if ip.version == 4:
        octets = str(ip).split(".")
        forms = []
        for order in (octets, octets[::-1]):
            forms += [sep.join(order) for sep in ("-", ".", "_")]
            forms.append("".join(f"{int(o):03d}" for o in order))
        forms.append(ip.packed.hex())
        return forms
    nibbles = ip.exploded.replace(":", "")
    return [nibbles, ip.compressed.replace(":", "-"), ip.exploded.replace(":", "-")]


def generic_name_reason(
    name: str, ip: str, patterns: GenericNamePatterns | None = None
) -> str | None:
    """Why ``name`` looks like a generic/dynamic PTR for ``ip``, or None."""
    patterns = patterns or _default_patterns()
    lowered = name.lower()
    address = ipaddress.ip_address(ip)
    if patterns.ip_digits:
        for form in _ip_forms(address):
            if form in lowered:
                return f"the address is written into the name ({form})"
    for pattern, why in patterns.patterns:
        if pattern.search(lowered):
            return why
    return None


@dataclass(frozen=True)
class IpIdentityReport:
    ip: str
    ptr_names: tuple[str, ...]
    fcrdns: bool | None  # None: could not tell (DNS unavailable)
    confirmed_names: tuple[str, ...]
    helo_resolves: bool | None
    findings: tuple[Finding, ...] = field(default_factory=tuple)


def check_ip_identity(ip: str, *, helo: str | None, resolver: DnsResolver,
                      patterns: GenericNamePatterns | None = None) -> IpIdentityReport:
    """PTR, forward-confirmed reverse DNS, PTR genericness, HELO -> IP."""
    address = ipaddress.ip_address(ip)
    subject = f"ip:{address}"
    family = "A" if address.version == 4 else "AAAA"
    findings: list[Finding] = []
    ptr = resolver.query(reverse_name(str(address)), "PTR")
    names: tuple[str, ...] = ()
    confirmed: list[str] = []
    fcrdns: bool | None = None
    if ptr.unavailable:
        findings.append(unavailable_finding(ptr, f"reverse DNS of {address}", subject=subject))
    elif ptr.status is not DnsStatus.ANSWER:
        findings.append(make_finding(
            "PTR_MISSING", f"{address} has no PTR record.", subject=subject,
            evidence={"ip": str(address), "name": ptr.name, "dns": ptr.status.value},
        ))
        fcrdns = False
    else:
        names = ptr.records
        failed = []
        for name in names[:_MAX_PTR_NAMES]:
            forward = resolver.query(name, family)
            if forward.unavailable:
                failed.append(forward)
            elif any(ipaddress.ip_address(a) == address for a in forward.records):
                confirmed.append(name)
        if confirmed:
            fcrdns = True
        elif failed:
            findings.append(unavailable_finding(
                failed[0], f"forward confirmation of {address}'s PTR", subject=subject))
        else:
            fcrdns = False
            findings.append(make_finding(
                "FCRDNS_MISMATCH",
                f"The PTR name{'s' if len(names) > 1 else ''} of {address} "
                f"({', '.join(names)}) do{'' if len(names) > 1 else 'es'} not resolve back to it.",
                subject=subject, evidence={"ip": str(address), "ptr": list(names)},
            ))
        for name in names:
            reason = generic_name_reason(name, str(address), patterns)
            if reason:
                findings.append(make_finding(
                    "PTR_GENERIC", f"The PTR name {name} of {address} looks generic: {reason}.",
                    subject=subject, evidence={"ip": str(address), "ptr": name, "why": reason},
                ))
                break
    helo_resolves: bool | None = None
    if helo:
        lookup = resolver.query(helo, family)
        if lookup.unavailable:
            findings.append(unavailable_finding(lookup, f"HELO name {helo}", subject=subject))
        else:
            helo_resolves = any(ipaddress.ip_address(a) == address for a in lookup.records)
            if not helo_resolves:
                findings.append(make_finding(
                    "HELO_MISMATCH",
                    f"HELO name {helo} does not resolve to {address} "
                    f"({family}: {', '.join(lookup.records) or lookup.status.value}).",
                    subject=subject,
                    evidence={"ip": str(address), "helo": helo, "addresses": list(lookup.records)},
                ))
    return IpIdentityReport(str(address), names, fcrdns, tuple(confirmed), helo_resolves,
                            tuple(findings))
