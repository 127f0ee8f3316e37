"""The sender audit: every check for one sender, its verdict, report and drift."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from auditor import dkim as dkim_checks
from auditor import dmarc as dmarc_checks
from auditor import dnsbl, iprep, mailinfra, spf
from auditor.errors import SenderSpecError
from auditor.findings import Finding, Severity, make_finding, unavailable_finding
from auditor.profiles import DEFAULT_PROFILE, get_profile
from auditor.resolver import DnsResolver

__all__ = [
    "AuditDrift",
    "DriftItem",
    "SenderAudit",
    "SenderSpec",
    "audit_drift",
    "audit_many",
    "audit_sender",
    "render_text",
]

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def _domain(value: str, what: str) -> str:
    text = value.strip().rstrip(".").lower()
    try:
        text = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError as error:
        raise SenderSpecError(f"{what} {value!r} is not a valid domain name") from error
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2 or not all(_LABEL.match(lab) for lab in labels):
        raise SenderSpecError(f"{what} {value!r} is not a valid domain name")
    return text


@dataclass(frozen=True)
class SenderSpec:
    """What to audit. ``domain`` is the sending (MAIL FROM and DKIM d=)
    domain; ``from_domain`` the visible From domain DMARC applies to
    (defaults to ``domain``). Invalid input raises :class:`SenderSpecError`."""

    domain: str
    ips: Sequence[str] = ()
    dkim_selectors: Sequence[str] = ()
    helo: str | None = None
    from_domain: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", _domain(self.domain, "sender domain"))
        object.__setattr__(
            self, "from_domain",
            _domain(self.from_domain, "From domain") if self.from_domain else self.domain,
        )
        if self.helo:
            object.__setattr__(self, "helo", _domain(self.helo, "HELO name"))
        ips = []
        for ip in self.ips:
            try:
                ips.append(str(ipaddress.ip_address(str(ip).strip())))
            except ValueError as error:
                raise SenderSpecError(f"sending IP {ip!r} is not an IP address") from error
        object.__setattr__(self, "ips", tuple(dict.fromkeys(ips)))
        selectors = tuple(dict.fromkeys(s.strip().lower() for s in self.dkim_selectors))
        for selector in selectors:
            try:
                dkim_checks.selector_name(selector, self.domain)
            except ValueError as error:
                raise SenderSpecError(str(error)) from error
        object.__setattr__(self, "dkim_selectors", selectors)


@dataclass(frozen=True)
class SenderAudit:
    """The result of :func:`audit_sender`; ``to_dict()`` is the stored/API form."""

    spec: SenderSpec
    profile: str
    findings: tuple[Finding, ...]
    spf_record: spf.SpfRecordReport
    spf_results: Mapping[str, spf.SpfResult]
    dkim: Mapping[str, dkim_checks.DkimSelectorReport]
    dmarc: dmarc_checks.DmarcReport
    ips: Mapping[str, iprep.IpIdentityReport]
    listings: Mapping[str, tuple[dnsbl.Listing, ...]]
    mail_infra: mailinfra.MailInfraReport
    dns_lookups: int = 0

    @property
    def domain(self) -> str:
        return self.spec.domain

    @property
    def verdict(self) -> str:
        """``block`` if any block finding, else ``warn`` if any warn, else ``pass``."""
        severities = {f.severity for f in self.findings}
        if Severity.BLOCK in severities:
            return "block"
        if Severity.WARN in severities:
            return "warn"
        return "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "spf": {
                "record": self.spf_record.record,
                # None when the record could not be fetched: unknown, not invalid.
                "valid": None if self.spf_record.status == "unavailable"
                else self.spf_record.valid,
                "dns_lookups": self.spf_record.dns_lookups,
                "ip_results": {ip: r.result for ip, r in self.spf_results.items()},
            },
            "dkim": {sel: report.to_dict() for sel, report in self.dkim.items()},
            "dmarc": self.dmarc.to_dict(),
            "ips": {
                ip: {
                    "ptr": report.ptr_names[0] if report.ptr_names else None,
                    "fcrdns": report.fcrdns,
                    "listings": [item.to_dict() for item in self.listings.get(ip, ())],
                }
                for ip, report in self.ips.items()
            },
        }


def _spf_record_findings(report: spf.SpfRecordReport) -> list[Finding]:
    evidence = {"domain": report.domain, "record": report.record}
    if report.status == "unavailable":
        if report.failed_lookup is not None:
            return [unavailable_finding(report.failed_lookup, "SPF record")]
        return [make_finding("DNS_UNAVAILABLE", f"SPF record: {report.problem}",
                             evidence={**evidence, "problem": report.problem})]
    if report.status == "missing":
        return [make_finding("SPF_MISSING", f"{report.domain} publishes no SPF record.",
                             evidence=evidence)]
    if report.status == "invalid":
        return [make_finding(
            "SPF_INVALID", f"The SPF record of {report.domain} is unusable: {report.problem}.",
            evidence={**evidence, "problem": report.problem})]
    findings = []
    if report.dns_lookups > spf.DNS_LOOKUP_LIMIT:
        findings.append(make_finding(
            "SPF_TOO_MANY_LOOKUPS",
            f"The SPF record of {report.domain} needs {report.dns_lookups} DNS lookups "
            f"(limit {spf.DNS_LOOKUP_LIMIT}).",
            evidence={**evidence, "dns_lookups": report.dns_lookups},
        ))
    if report.void_lookups > spf.VOID_LOOKUP_LIMIT:
        findings.append(make_finding(
            "SPF_VOID_LOOKUPS",
            f"{report.void_lookups} SPF terms of {report.domain} look up names with no "
            f"records (limit {spf.VOID_LOOKUP_LIMIT}).",
            evidence={**evidence, "void_terms": list(report.void_names)},
        ))
    if report.all_qualifier in ("+", "?"):
        term = f"{report.all_qualifier}all"
        findings.append(make_finding(
            "SPF_PERMISSIVE_ALL",
            f"The SPF record of {report.domain} ends with {term}: "
            + ("every server passes." if term == "+all" else "unlisted servers are not failed."),
            evidence={**evidence, "all": term},
            severity=Severity.BLOCK if term == "+all" else Severity.WARN,
        ))
    elif report.all_qualifier is None:
        findings.append(make_finding(
            "SPF_NO_ALL", f"The SPF record of {report.domain} has no final all.",
            evidence=evidence))
    return findings


def _spf_ip_findings(ip: str, result: spf.SpfResult, domain_codes: set[str]) -> list[Finding]:
    subject = f"ip:{ip}"
    evidence = {"ip": ip, "result": result.result, "mechanism": result.mechanism,
                "domain": result.domain, "dns_lookups": result.dns_lookups}
    if result.result == "pass":
        return []
    if result.result == "temperror":
        if result.failed_lookup is not None:
            return [unavailable_finding(result.failed_lookup, f"SPF evaluation for {ip}",
                                        subject=subject)]
        return [make_finding("DNS_UNAVAILABLE", f"SPF evaluation for {ip}: {result.problem}",
                             subject=subject, evidence={**evidence, "problem": result.problem})]
    if result.result == "permerror":
        problem = result.problem or ""
        code = {
            "dns_lookups": "SPF_TOO_MANY_LOOKUPS",
            "void_lookups": "SPF_VOID_LOOKUPS",
        }.get(result.exceeded_limit or "", "SPF_INVALID")
        if code in domain_codes:
            return []
        return [make_finding(code, f"SPF evaluation for {ip} ends in permerror: {problem}.",
                             subject=subject, evidence={**evidence, "problem": problem})]
    if result.result == "none":
        return []  # SPF_MISSING at domain level says it already
    message = f"{ip} gets SPF {result.result}"
    if result.mechanism:
        message += f" (decided by {result.mechanism} in {result.domain})"
    if result.explanation:
        message += f"; the domain explains: {result.explanation}"
    return [make_finding("SPF_IP_NOT_AUTHORIZED", message + ".", subject=subject,
                         evidence={**evidence, "explanation": result.explanation})]


def audit_sender(
    spec: SenderSpec,
    *,
    resolver: DnsResolver,
    dnsbl_zones: Sequence[str] | None = None,
    profile: str = DEFAULT_PROFILE,
) -> SenderAudit:
    """Run every check for ``spec``. DNS failures become DNS_UNAVAILABLE
    findings (verdict block), never "missing". ``dnsbl_zones=None`` uses the
    default zones of ``data/dnsbl.yaml``; unknown profile names raise
    :class:`auditor.errors.ProfileError` before any lookup."""
    chosen = get_profile(profile)
    zones = tuple(dnsbl_zones) if dnsbl_zones is not None else dnsbl.default_zones()
    start_lookups = resolver.thread_lookups
    findings: list[Finding] = []

    spf_report = spf.analyze_record(spec.domain, resolver=resolver)
    findings += _spf_record_findings(spf_report)
    domain_codes = {f.code for f in findings}
    spf_results: dict[str, spf.SpfResult] = {}
    helo = spec.helo or spec.domain
    for ip in spec.ips:
        result = spf.check_host(ip, f"postmaster@{spec.domain}", helo, resolver=resolver)
        spf_results[ip] = result
        if spf_report.status == "ok":
            findings += _spf_ip_findings(ip, result, domain_codes)

    dkim_reports = {}
    for selector in spec.dkim_selectors:
        report = dkim_checks.check_selector(spec.domain, selector, resolver=resolver)
        dkim_reports[selector] = report
        findings += report.findings
    if not spec.dkim_selectors:
        findings.append(make_finding(
            "DKIM_MISSING", f"No DKIM selector is configured for {spec.domain}.",
            subject="dkim", evidence={"domain": spec.domain, "selectors": []},
        ))
    usable_key = any(r.key is not None and not r.key.revoked for r in dkim_reports.values())

    assert spec.from_domain is not None
    dmarc_report = dmarc_checks.check_dmarc(
        spec.from_domain,
        spf_domain=spec.domain,
        dkim_domain=spec.domain if usable_key else None,
        resolver=resolver,
    )
    findings += dmarc_report.findings

    ip_reports: dict[str, iprep.IpIdentityReport] = {}
    listings: dict[str, tuple[dnsbl.Listing, ...]] = {}
    for ip in spec.ips:
        identity = iprep.check_ip_identity(ip, helo=spec.helo, resolver=resolver)
        ip_reports[ip] = identity
        findings += identity.findings
        ip_listings, listing_findings = dnsbl.check_listings(ip, zones, resolver=resolver)
        listings[ip] = tuple(ip_listings)
        findings += listing_findings
    if spec.ips and not spec.helo:
        findings.append(make_finding(
            "HELO_MISSING", "No HELO name is configured; it was not checked.",
            evidence={"domain": spec.domain},
        ))

    infra = mailinfra.check_mail_infra(spec.domain, resolver=resolver)
    findings += infra.findings

    ordered = sorted(chosen.apply(findings), key=lambda f: (-f.severity.rank, f.code, f.subject))
    return SenderAudit(
        spec=spec,
        profile=chosen.name,
        findings=tuple(ordered),
        spf_record=spf_report,
        spf_results=spf_results,
        dkim=dkim_reports,
        dmarc=dmarc_report,
        ips=ip_reports,
        listings=listings,
        mail_infra=infra,
        dns_lookups=resolver.thread_lookups - start_lookups,
    )


def audit_many(
    specs: Iterable[SenderSpec],
    *,
    resolver: DnsResolver,
    concurrency: int = 16,
    dnsbl_zones: Sequence[str] | None = None,
    profile: str = DEFAULT_PROFILE,
) -> list[SenderAudit]:
    """Audit several senders with at most ``concurrency`` in flight; results
    are in the order of ``specs``."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    get_profile(profile)  # fail on a bad name before starting any thread
    spec_list = list(specs)
    with ThreadPoolExecutor(max_workers=min(concurrency, max(len(spec_list), 1))) as pool:
        return list(pool.map(
            lambda s: audit_sender(s, resolver=resolver, dnsbl_zones=dnsbl_zones,
                                   profile=profile),
            spec_list,
        ))


# ----------------------------------------------------------------------------
# Text report
# ----------------------------------------------------------------------------
def render_text(audit: SenderAudit) -> str:
    """A plain-text report for a terminal."""
    lines = [
        f"Sender audit: {audit.domain}   verdict: {audit.verdict.upper()}   "
        f"profile: {audit.profile}",
    ]
    if audit.spec.from_domain != audit.domain:
        lines.append(f"From domain: {audit.spec.from_domain}")
    lines.append("")
    if audit.findings:
        lines.append(f"Findings ({len(audit.findings)}):")
        for f in audit.findings:
            lines.append(f"  [{f.severity.value.upper():5}] {f.code} ({f.subject})")
            lines.append(f"          {f.message}")
            lines.append(f"          What to do: {f.remediation}")
    else:
        lines.append("No findings.")
    lines += ["", "SPF:"]
    r = audit.spf_record
    lines.append(f"  record: {r.record or '-'}   status: {r.status}   "
                 f"DNS lookups: {r.dns_lookups}/{spf.DNS_LOOKUP_LIMIT}")
    for ip, result in audit.spf_results.items():
        lines.append(f"  {ip}: {result.result}" + (f" ({result.mechanism})"
                                                    if result.mechanism else ""))
    lines += ["", "DKIM:"]
    if not audit.dkim:
        lines.append("  no selectors configured")
    for selector, report in audit.dkim.items():
        if report.key is None:
            state = {True: "invalid", False: "missing", None: "unknown (DNS unavailable)"}
            lines.append(f"  {selector}: {state[report.present]}")
        else:
            k = report.key
            state = "revoked" if k.revoked else f"{k.key_type} {k.bits} bits"
            lines.append(f"  {selector}: {state}" + ("  (testing)" if k.testing else ""))
    lines += ["", "DMARC:"]
    d = audit.dmarc
    lines.append(f"  record: {d.record or '-'}")
    lines.append(f"  policy: {d.applied_policy or '-'}   SPF can align: "
                 f"{'yes' if d.spf_alignable else 'no'}   DKIM can align: "
                 f"{'yes' if d.dkim_alignable else 'no'}")
    if audit.ips:
        lines += ["", "Sending IPs:"]
        for ip, report in audit.ips.items():
            fcrdns = {True: "yes", False: "no", None: "unknown"}[report.fcrdns]
            lines.append(f"  {ip}: PTR {', '.join(report.ptr_names) or '-'}   FCrDNS: {fcrdns}")
            for listing in audit.listings.get(ip, ()):
                lines.append(f"      listed on {listing.zone}: {listing.code} {listing.meaning}")
    infra = audit.mail_infra
    lines += ["", "Mail infrastructure:",
              f"  MX: {', '.join(infra.mx) or '-'}",
              f"  MTA-STS: {infra.mta_sts or '-'}   TLS-RPT: {infra.tlsrpt or '-'}   "
              f"BIMI: {infra.bimi or '-'}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# Drift between two audits of the same sender
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftItem:
    code: str
    subject: str
    severity: str
    message: str


@dataclass(frozen=True)
class AuditDrift:
    """Findings that appeared or cleared between two audits, by (code, subject)."""

    domain: str
    verdict_before: str
    verdict_after: str
    appeared: tuple[DriftItem, ...] = field(default_factory=tuple)
    cleared: tuple[DriftItem, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return bool(self.appeared or self.cleared) or self.verdict_before != self.verdict_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "verdict_before": self.verdict_before,
            "verdict_after": self.verdict_after,
            "appeared": [vars(i) for i in self.appeared],
            "cleared": [vars(i) for i in self.cleared],
        }


def _drift_items(
    audit: SenderAudit | Mapping[str, Any],
) -> tuple[str, str, dict[tuple[str, str], DriftItem]]:
    data = audit.to_dict() if isinstance(audit, SenderAudit) else audit
    try:
        items = {}
        for f in data["findings"]:
            subject = str((f.get("evidence") or {}).get("subject", "domain"))
            items[(f["code"], subject)] = DriftItem(f["code"], subject, f["severity"],
                                                    f["message"])
        return str(data["domain"]), str(data["verdict"]), items
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an audit (SenderAudit or its to_dict()): {error}") from error


def audit_drift(
    previous: SenderAudit | Mapping[str, Any], current: SenderAudit | Mapping[str, Any]
) -> AuditDrift:
    """Compare two audits (objects or their stored ``to_dict()`` form).

    A finding is identified by its code and subject (``domain``,
    ``ip:ADDR``, ``dkim:SELECTOR`` ...), so a new listing of one IP shows up
    even while another IP stays listed.
    """
    domain_before, verdict_before, before = _drift_items(previous)
    domain_after, verdict_after, after = _drift_items(current)
    if domain_before != domain_after:
        raise ValueError(f"drift between different senders: {domain_before} vs {domain_after}")
    return AuditDrift(
        domain=domain_after,
        verdict_before=verdict_before,
        verdict_after=verdict_after,
        appeared=tuple(after[k] for k in sorted(after.keys() - before.keys())),
        cleared=tuple(before[k] for k in sorted(before.keys() - after.keys())),
    )
