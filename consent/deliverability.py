"""Whether an address's domain accepts mail (RFC 5321 section 5), asked through the
service's resolver.

A domain accepts mail when it has an MX record other than the null MX of RFC 7505,
or, lacking MX records, an A or AAAA record with a globally reachable address.
When DNS cannot be asked (timeout, SERVFAIL, refused) the answer is "not checked",
which is refused like "does not accept mail": a check that was asked for never
passes on missing data.

``resolver`` is any object with ``query(name, rdtype)`` returning a result with
``status`` (``answer``, ``nxdomain``, ``nodata`` or ``unavailable``), ``records``
(MX as ``"PREFERENCE HOST"``) and ``reason``: the service's
:class:`auditor.resolver.DnsResolver`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import idna

from consent.errors import InvalidEmail


def require_resolver(resolver: Any) -> Any:
    """``resolver``, or ValueError when the check was asked for without one."""
    if resolver is None:
        raise ValueError("checking deliverability needs the service's DNS resolver")
    return resolver


def undeliverable_reason(resolver: Any, domain: str) -> str | None:
    """Why mail to ``domain`` cannot be delivered, or None when it can."""
    require_resolver(resolver)
    try:
        name = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return f"the domain {domain} is not a valid internationalized domain name"
    mx = resolver.query(name, "MX")
    if str(mx.status) == "unavailable":
        return f"could not check that {domain} accepts mail (DNS {mx.reason or 'error'})"
    if str(mx.status) == "nxdomain":
        return f"the domain {domain} does not exist"
    if str(mx.status) == "answer":
        hosts = [record.partition(" ")[2].rstrip(".") for record in mx.records]
        if any(hosts):
            return None
        return f"the domain {domain} does not accept mail (null MX)"
    for rdtype in ("A", "AAAA"):
        found = resolver.query(name, rdtype)
        if str(found.status) == "unavailable":
            return f"could not check that {domain} accepts mail (DNS {found.reason or 'error'})"
        if str(found.status) == "answer" and any(_is_global(a) for a in found.records):
            return None
    return f"the domain {domain} has no mail server (no MX, A or AAAA record)"


def check_domain_accepts_mail(resolver: Any, domain: str, field: str = "email") -> None:
    """Raise :class:`InvalidEmail` unless ``domain`` accepts mail."""
    reason = undeliverable_reason(resolver, domain)
    if reason is not None:
        raise InvalidEmail(field, reason)


def _is_global(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False
