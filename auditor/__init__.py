"""Sender audit: is this sender set up so that mailbox providers accept its mail?

Public API::

    from auditor import DnsResolver, SenderSpec, audit_sender, render_text

    resolver = DnsResolver(["127.0.0.1:5353"], timeout=2.0, lifetime=5.0)
    audit = audit_sender(
        SenderSpec("example.com", ips=["192.0.2.1"], dkim_selectors=["s1"],
                   helo="mail.example.com"),
        resolver=resolver,
    )
    audit.verdict        # "pass" | "warn" | "block"
    audit.to_dict()      # the stored / API JSON form
    print(render_text(audit))

Checks live in one module per standard (``spf``, ``dkim``, ``dmarc``,
``iprep``, ``dnsbl``, ``mailinfra``); codes, profiles, PTR patterns and DNSBL
meanings are data under ``auditor/data``. Every DNS lookup goes through one
:class:`DnsResolver`; a lookup that could not be made is a DNS_UNAVAILABLE
finding (severity block), never "record missing".
"""

from auditor.audit import (
    AuditDrift,
    DriftItem,
    SenderAudit,
    SenderSpec,
    audit_drift,
    audit_many,
    audit_sender,
    render_text,
)
from auditor.dnsbl import default_zones as default_dnsbl_zones
from auditor.errors import (
    AuditorError,
    CatalogueError,
    PermError,
    ProfileError,
    ResolverConfigError,
    SenderSpecError,
    SpfError,
    TempError,
)
from auditor.findings import CodeInfo, Finding, Severity, catalogue
from auditor.profiles import DEFAULT_PROFILE, Profile, get_profile, profile_names
from auditor.resolver import DnsResolver, DnsResult, DnsStatus
from auditor.spf import SpfResult, check_host

__all__ = [
    "DEFAULT_PROFILE",
    "AuditDrift",
    "AuditorError",
    "CatalogueError",
    "CodeInfo",
    "DnsResolver",
    "DnsResult",
    "DnsStatus",
    "DriftItem",
    "Finding",
    "PermError",
    "Profile",
    "ProfileError",
    "ResolverConfigError",
    "SenderAudit",
    "SenderSpec",
    "SenderSpecError",
    "Severity",
    "SpfError",
    "SpfResult",
    "TempError",
    "audit_drift",
    "audit_many",
    "audit_sender",
    "catalogue",
    "check_host",
    "default_dnsbl_zones",
    "get_profile",
    "profile_names",
    "render_text",
]
