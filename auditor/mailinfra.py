"""Receiving-side mail infrastructure: MX, MTA-STS, TLS-RPT, BIMI (DNS only).

Records are fetched over the shared resolver (so a failed lookup is
DNS_UNAVAILABLE, never "missing"); the MTA-STS and TLS-RPT records are then
validated with checkdmarc's parsers, which do no network I/O. MTA-STS is
judged from its ``_mta-sts`` TXT record alone; the HTTPS policy file is not
fetched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from checkdmarc.mta_sts import MTASTSError, parse_mta_sts_record
from checkdmarc.smtp_tls_reporting import (
    SMTPTLSReportingError,
    parse_smtp_tls_reporting_record,
)

from auditor.findings import Finding, make_finding, unavailable_finding
from auditor.resolver import DnsResolver, DnsResult, DnsStatus

__all__ = ["MailInfraReport", "check_mail_infra"]

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


def _mta_sts_problem(record: str) -> str | None:
    try:
        parse_mta_sts_record(record)
    except MTASTSError as error:
        return str(error).rstrip(".")
    return None


def _tlsrpt_problem(record: str) -> str | None:
    try:
        parse_smtp_tls_reporting_record(record)
    except SMTPTLSReportingError as error:
        return str(error).rstrip(".")
    return None


def _bimi_problem(record: str) -> str | None:
    # checkdmarc's BIMI check downloads the logo and certificate; only the
    # record's own shape is judged here.
    tags = _tags(record)
    if "l" not in tags:
        return "the l= tag (logo URL) is missing"
    if tags["l"] and not tags["l"].lower().startswith("https://"):
        return "l= must be an https:// logo URL (or empty to decline)"
    return None


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
        validate=_mta_sts_problem,
    )
    tlsrpt_record = _txt_check(
        resolver, f"_smtp._tls.{domain}", version="TLSRPTv1", prefix="TLSRPT",
        label="SMTP TLS reporting", findings=findings,
        validate=_tlsrpt_problem,
    )
    bimi_record = _txt_check(
        resolver, f"default._bimi.{domain}", version="BIMI1", prefix="BIMI", label="BIMI",
        findings=findings,
        validate=_bimi_problem,
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
    validate: Callable[[str], str | None],
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
    problem = validate(records[0])
    if problem:
        findings.append(make_finding(
            f"{prefix}_INVALID", f"The {label} record at {name} is malformed: {problem}.",
            evidence={"name": name, "record": records[0]},
        ))
    return records[0]
