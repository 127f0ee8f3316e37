"""DNS blocklist lookups with the meaning of every return code (data/dnsbl.yaml)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from auditor.errors import CatalogueError
from auditor.findings import Finding, load_data_file, make_finding, unavailable_finding
from auditor.resolver import DnsResolver, DnsStatus

__all__ = [
    "DnsblZone",
    "Listing",
    "check_listings",
    "default_zones",
    "query_name",
    "zone_info",
]

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@dataclass(frozen=True)
class DnsblZone:
    zone: str
    operator: str = ""
    removal: str = ""
    codes: Mapping[str, str] = field(default_factory=dict)
    error_codes: Mapping[str, str] = field(default_factory=dict)
    error_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listing:
    zone: str
    code: str
    meaning: str

    def to_dict(self) -> dict[str, str]:
        return {"zone": self.zone, "code": self.code, "meaning": self.meaning}


@cache
def _catalogue() -> tuple[tuple[str, ...], dict[str, DnsblZone]]:
    raw = load_data_file("dnsbl.yaml")
    try:
        zones = {
            name.lower(): DnsblZone(
                zone=name.lower(),
                operator=str(entry.get("operator", "")),
                removal=str(entry.get("removal", "")),
                codes={str(k): str(v) for k, v in (entry.get("codes") or {}).items()},
                error_codes={str(k): str(v) for k, v in (entry.get("error_codes") or {}).items()},
                error_prefixes=tuple(entry.get("error_prefixes") or ()),
            )
            for name, entry in raw["zones"].items()
        }
        return tuple(z.lower() for z in raw["default_zones"]), zones
    except (KeyError, TypeError, AttributeError) as error:
        raise CatalogueError(f"auditor/data/dnsbl.yaml: {error}") from error


def default_zones() -> tuple[str, ...]:
    return _catalogue()[0]


def zone_info(zone: str) -> DnsblZone:
    """Known meanings for ``zone``; an unknown zone gets generic meanings."""
    zone = zone.rstrip(".").lower()
    return _catalogue()[1].get(zone, DnsblZone(zone))


def query_name(ip: str, zone: str) -> str:
    """The DNSBL query name: reversed octets (IPv4) or nibbles (IPv6) + zone."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        labels = str(address).split(".")[::-1]
    else:
        labels = list(address.exploded.replace(":", ""))[::-1]
    return ".".join([*labels, zone.rstrip(".").lower()])


def check_listings(
    ip: str, zones: Sequence[str], *, resolver: DnsResolver
) -> tuple[list[Listing], list[Finding]]:
    """Query every zone for ``ip``; returns listings and findings.

    Error answers (e.g. Spamhaus 127.255.255.x) and answers outside
    127.0.0.0/8 give DNSBL_ERROR, never a listing; a lookup that could not be
    made gives DNS_UNAVAILABLE.
    """
    address = ipaddress.ip_address(ip)
    subject = f"ip:{address}"
    listings: list[Listing] = []
    findings: list[Finding] = []
    for zone_name in zones:
        zone = zone_info(zone_name)
        name = query_name(str(address), zone.zone)
        lookup = resolver.query(name, "A")
        if lookup.unavailable:
            findings.append(unavailable_finding(lookup, f"blocklist {zone.zone}", subject=subject))
            continue
        if lookup.status is not DnsStatus.ANSWER:
            continue
        zone_listings = []
        for answer in lookup.records:
            error = zone.error_codes.get(answer)
            if error is None and any(answer.startswith(p) for p in zone.error_prefixes):
                error = "error answer from the blocklist"
            if error is None and ipaddress.ip_address(answer) not in _LOOPBACK:
                error = "answer outside 127.0.0.0/8 (a resolver rewriting NXDOMAIN?)"
            if error is not None:
                findings.append(make_finding(
                    "DNSBL_ERROR",
                    f"{zone.zone} answered {answer} for {address}: {error}; the listing "
                    "status is unknown.",
                    subject=f"{subject}:{zone.zone}",
                    evidence={"ip": str(address), "zone": zone.zone, "answer": answer,
                              "meaning": error, "server": lookup.server},
                ))
                continue
            meaning = zone.codes.get(answer, f"listed (return code {answer})")
            zone_listings.append(Listing(zone.zone, answer, meaning))
        if zone_listings:
            listings += zone_listings
            findings.append(make_finding(
                "DNSBL_LISTED",
                f"{address} is listed on {zone.zone}: "
                + "; ".join(f"{item.code} {item.meaning}" for item in zone_listings) + ".",
                subject=f"{subject}:{zone.zone}",
                evidence={"ip": str(address), "zone": zone.zone,
                          "codes": [item.code for item in zone_listings],
                          "meanings": [item.meaning for item in zone_listings],
                          "operator": zone.operator, "removal": zone.removal},
            ))
    return listings, findings
