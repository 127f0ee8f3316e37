"""DMARC (RFC 7489): record discovery, parsing and alignment possibilities.

The record is fetched and parsed here, over the shared resolver, for the
reasons given in :mod:`auditor.spf` (checkdmarc's name-keyed process cache
and timeouts reported as "not found"). The organizational domain comes from
the Public Suffix List via ``publicsuffixlist`` (the list checkdmarc uses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from publicsuffixlist import PublicSuffixList

from auditor.findings import Finding, make_finding, unavailable_finding
from auditor.resolver import DnsResolver, DnsResult, DnsStatus

__all__ = [
    "DmarcError",
    "DmarcPolicy",
    "DmarcReport",
    "aligned",
    "check_dmarc",
    "organizational_domain",
    "parse_record",
]

_POLICIES = ("none", "quarantine", "reject")
_STRENGTH = {"none": 0, "quarantine": 1, "reject": 2}
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class DmarcError(ValueError):
    """A DMARC record that receivers would not use; the message says why."""


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """RFC 7489 section 3.2: the registrable domain by the Public Suffix List."""
    domain = domain.rstrip(".").lower()
    return _psl().privatesuffix(domain) or domain


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    """Identifier alignment (section 3.1): ``s`` exact, ``r`` same org domain."""
    a, b = domain.rstrip(".").lower(), from_domain.rstrip(".").lower()
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


@dataclass(frozen=True)
class DmarcPolicy:
    record: str
    policy: str
    subdomain_policy: str | None
    pct: int
    adkim: str
    aspf: str
    rua: tuple[str, ...]
    ruf: tuple[str, ...]


def _uris(value: str) -> tuple[str, ...]:
    uris = tuple(u.strip() for u in value.split(",") if u.strip())
    for uri in uris:
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", uri):
            raise DmarcError(f"report URI {uri!r} is not a URI")
    return uris


def parse_record(record: str) -> DmarcPolicy:
    """Parse a DMARC record (section 6.3); raises :class:`DmarcError`."""
    parts = [p.strip() for p in record.split(";")]
    if not parts or re.sub(r"\s", "", parts[0]) != "v=DMARC1":
        raise DmarcError("the record must start with 'v=DMARC1;'")
    tags: dict[str, str] = {}
    for part in parts[1:]:
        if not part:
            continue
        name, eq, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not eq or not _TAG.match(name):
            raise DmarcError(f"not a tag=value pair: {part!r}")
        if name in tags:
            raise DmarcError(f"tag {name}= appears twice")
        tags[name] = value
    if "p" not in tags:
        raise DmarcError("required tag p= is missing")
    policy = tags["p"].lower()
    if policy not in _POLICIES:
        raise DmarcError(f"p={tags['p']} is not none, quarantine or reject")
    sp = tags.get("sp")
    if sp is not None and sp.lower() not in _POLICIES:
        raise DmarcError(f"sp={sp} is not none, quarantine or reject")
    pct_text = tags.get("pct", "100")
    if not pct_text.isdigit() or not 0 <= int(pct_text) <= 100:
        raise DmarcError(f"pct={pct_text} is not a whole number from 0 to 100")
    modes = {}
    for tag in ("adkim", "aspf"):
        value = tags.get(tag, "r").lower()
        if value not in ("r", "s"):
            raise DmarcError(f"{tag}={tags[tag]} is not r or s")
        modes[tag] = value
    return DmarcPolicy(
        record=record,
        policy=policy,
        subdomain_policy=sp.lower() if sp else None,
        pct=int(pct_text),
        adkim=modes["adkim"],
        aspf=modes["aspf"],
        rua=_uris(tags.get("rua", "")),
        ruf=_uris(tags.get("ruf", "")),
    )


@dataclass(frozen=True)
class DmarcReport:
    from_domain: str
    record_name: str | None
    record: str | None
    policy: DmarcPolicy | None
    applied_policy: str | None  # p= or sp=, whichever governs the From domain
    spf_alignable: bool
    dkim_alignable: bool
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        p = self.policy
        return {
            "record": self.record,
            "policy": self.applied_policy,
            "record_name": self.record_name,
            "subdomain_policy": p.subdomain_policy if p else None,
            "pct": p.pct if p else None,
            "adkim": p.adkim if p else None,
            "aspf": p.aspf if p else None,
            "rua": list(p.rua) if p else [],
            "spf_alignable": self.spf_alignable,
            "dkim_alignable": self.dkim_alignable,
        }


def _dmarc_records(lookup: DnsResult) -> list[str]:
    if lookup.status is not DnsStatus.ANSWER:
        return []
    return [r for r in lookup.records if re.match(r"^v\s*=\s*DMARC1\s*(;|$)", r)]


def check_dmarc(
    from_domain: str,
    *,
    spf_domain: str,
    dkim_domain: str | None,
    resolver: DnsResolver,
) -> DmarcReport:
    """Discover the policy for ``from_domain`` (section 6.6.3) and judge it.

    ``spf_domain`` is the MAIL FROM domain SPF authenticates; ``dkim_domain``
    the d= domain of the DKIM keys (``None`` when no key was found).
    """
    from_domain = from_domain.rstrip(".").lower()
    org = organizational_domain(from_domain)
    findings: list[Finding] = []
    candidates = [f"_dmarc.{from_domain}"]
    if org != from_domain:
        candidates.append(f"_dmarc.{org}")
    record_name: str | None = None
    records: list[str] = []
    for name in candidates:
        lookup = resolver.query(name, "TXT")
        if lookup.unavailable:
            findings.append(unavailable_finding(lookup, "DMARC record"))
            return DmarcReport(from_domain, None, None, None, None, False, False, tuple(findings))
        records = _dmarc_records(lookup)
        if records:
            record_name = name
            break
    if not records:
        findings.append(make_finding(
            "DMARC_MISSING",
            f"No DMARC record at {' or '.join(candidates)}.",
            evidence={"names": candidates},
        ))
        return DmarcReport(from_domain, None, None, None, None, False, False, tuple(findings))
    if len(records) > 1:
        findings.append(make_finding(
            "DMARC_INVALID",
            f"{len(records)} DMARC records at {record_name}; receivers then apply none.",
            evidence={"name": record_name, "records": records},
        ))
        return DmarcReport(from_domain, record_name, " | ".join(records), None, None, False,
                           False, tuple(findings))
    record = records[0]
    try:
        policy = parse_record(record)
    except DmarcError as error:
        findings.append(make_finding(
            "DMARC_INVALID", f"The DMARC record at {record_name} is invalid: {error}.",
            evidence={"name": record_name, "record": record},
        ))
        return DmarcReport(from_domain, record_name, record, None, None, False, False,
                           tuple(findings))
    inherited = record_name != f"_dmarc.{from_domain}"
    applied = (policy.subdomain_policy or policy.policy) if inherited else policy.policy
    evidence = {"name": record_name, "record": record}
    if applied == "none":
        findings.append(make_finding(
            "DMARC_POLICY_NONE",
            f"The DMARC policy for {from_domain} is none: failing mail is still delivered.",
            evidence=evidence,
        ))
    if policy.pct < 100 and applied != "none":
        findings.append(make_finding(
            "DMARC_PCT_PARTIAL",
            f"pct={policy.pct}: the {applied} policy applies to {policy.pct}% of failing mail.",
            evidence=evidence,
        ))
    if not policy.rua:
        findings.append(make_finding(
            "DMARC_NO_RUA", f"The DMARC record at {record_name} requests no aggregate reports.",
            evidence=evidence,
        ))
    if (policy.subdomain_policy is not None
            and _STRENGTH[policy.subdomain_policy] < _STRENGTH[policy.policy]):
        findings.append(make_finding(
            "DMARC_SUBDOMAIN_POLICY_WEAK",
            f"sp={policy.subdomain_policy} is weaker than p={policy.policy}.",
            evidence=evidence,
        ))
    strict = [f"{tag}=s" for tag, mode in (("adkim", policy.adkim), ("aspf", policy.aspf))
              if mode == "s"]
    if strict:
        findings.append(make_finding(
            "DMARC_STRICT_ALIGNMENT", f"Strict alignment is required ({', '.join(strict)}).",
            evidence=evidence,
        ))
    spf_ok = aligned(spf_domain, from_domain, policy.aspf)
    dkim_ok = dkim_domain is not None and aligned(dkim_domain, from_domain, policy.adkim)
    alignment = {
        "from_domain": from_domain,
        "spf_domain": spf_domain,
        "dkim_domain": dkim_domain,
        "aspf": policy.aspf,
        "adkim": policy.adkim,
    }
    if not spf_ok and not dkim_ok:
        findings.append(make_finding(
            "DMARC_ALIGNMENT_IMPOSSIBLE",
            f"Neither the SPF domain {spf_domain} nor the DKIM domain "
            f"{dkim_domain or '(no key found)'} can align with From domain {from_domain}.",
            evidence=alignment,
        ))
    elif not (spf_ok and dkim_ok):
        weak = "SPF" if not spf_ok else "DKIM"
        findings.append(make_finding(
            "DMARC_ALIGNMENT_PARTIAL",
            f"Only {'DKIM' if weak == 'SPF' else 'SPF'} can align with From domain "
            f"{from_domain}; {weak} cannot.",
            evidence=alignment,
        ))
    return DmarcReport(from_domain, record_name, record, policy, applied, spf_ok, dkim_ok,
                       tuple(findings))
