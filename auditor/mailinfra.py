"""Receiving-side mail infrastructure: MX, MTA-STS, TLS-RPT, BIMI (DNS only).

MTA-STS is judged from its ``_mta-sts`` TXT record alone; the HTTPS policy
file is not fetched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from auditor.findings import Finding, make_finding, unavailable_finding
from auditor.resolver import DnsResolver, DnsResult, DnsStatus

__all__ = ["MailInfraReport", "check_mail_infra"]

_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


@dataclass(frozen=True)
class MailInfraReport:
    domain: str
    mx: tuple[str, ...] = ()
    mta_sts: str | None = None
    tlsrpt: str | None = None
    bimi: str | None = None
    findings: tuple[Finding, ...] = field(default_factory=tuple)


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags[name.strip().lower()] = value.strip()
    return tags


def _versioned(lookup: DnsResult, version: str) -> list[str]:
    if lookup.status is not DnsStatus.ANSWER:
        return []
    return [r for r in lookup.records if re.match(rf"^v\s*=\s*{version}\s*(;|$)", r)]


def check_mail_infra(domain: str, *, resolver: DnsResolver) -> MailInfraReport:
    """Informational checks of the domain's receiving side."""
    findings: list[Finding] = []
    mx: tuple[str, ...] = ()
    lookup = resolver.query(domain, "MX")
    if lookup.unavailable:
        findings.append(unavailable_finding(lookup, "MX records"))
    else:
        mx = tuple(sorted(lookup.records, key=lambda r: int(r.split(" ", 1)[0])))
        null_mx = any(r.split(" ", 1)[1] in ("", ".") for r in mx if " " in r)
        if not mx or null_mx:
            findings.append(make_finding(
                "MX_MISSING",
                f"{domain} publishes {'a null MX (RFC 7505)' if null_mx else 'no MX record'}: "
                "it does not receive mail.",
                evidence={"name": domain, "mx": list(mx), "dns": lookup.status.value},
            ))

    sts_record = _txt_check(
        resolver, f"_mta-sts.{domain}", version="STSv1", prefix="MTA_STS", label="MTA-STS",
        findings=findings,
        validate=lambda tags: None if _STS_ID.match(tags.get("id", ""))
        else "id= must be 1-32 letters or digits",
    )
    tlsrpt_record = _txt_check(
        resolver, f"_smtp._tls.{domain}", version="TLSRPTv1", prefix="TLSRPT",
        label="SMTP TLS reporting", findings=findings,
        validate=lambda tags: None if any(
            u.strip().lower().startswith(("mailto:", "https:"))
            for u in tags.get("rua", "").split(","))
        else "rua= must name a mailto: or https: destination",
    )
    bimi_record = _txt_check(
        resolver, f"default._bimi.{domain}", version="BIMI1", prefix="BIMI", label="BIMI",
        findings=findings,
        validate=lambda tags: None if (
            "l" in tags and (tags["l"] == "" or tags["l"].lower().startswith("https://")))
        else "l= must be an https:// logo URL (or empty to decline)",
    )
    return MailInfraReport(domain, mx, sts_record, tlsrpt_record, bimi_record, tuple(findings))


def _txt_check(
    resolver: DnsResolver,
    name: str,
    *,
    version: str,
    prefix: str,
    label: str,
    findings: list[Finding],
    validate: Callable[[dict[str, str]], str | None],
) -> str | None:
    """Find the one ``v=VERSION`` TXT record at ``name``; add findings."""
    lookup = resolver.query(name, "TXT")
    if lookup.unavailable:
        findings.append(unavailable_finding(lookup, f"{label} record"))
        return None
    records = _versioned(lookup, version)
    if not records:
        findings.append(make_finding(
            f"{prefix}_MISSING", f"No {label} record at {name}.",
            evidence={"name": name, "dns": lookup.status.value},
        ))
        return None
    if len(records) > 1:
        findings.append(make_finding(
            f"{prefix}_INVALID",
            f"{len(records)} {label} records at {name}; exactly one is allowed.",
            evidence={"name": name, "records": records},
        ))
        return None
    problem = validate(_tags(records[0]))
    if problem:
        findings.append(make_finding(
            f"{prefix}_INVALID", f"The {label} record at {name} is malformed: {problem}.",
            evidence={"name": name, "record": records[0]},
        ))
    return records[0]
