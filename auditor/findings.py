"""Findings: what a check saw, how bad it is, and what to do about it.

Codes, their default severities, titles and remediation texts are data
(``data/codes.yaml``); checks supply the message and the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from auditor.errors import CatalogueError
from auditor.resolver import DnsResult

__all__ = [
    "CodeInfo",
    "Finding",
    "Severity",
    "catalogue",
    "load_data_file",
    "make_finding",
    "unavailable_finding",
]


class Severity(StrEnum):
    BLOCK = "block"
    WARN = "warn"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"block": 2, "warn": 1, "info": 0}[self.value]


@dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: Severity
    title: str
    remediation: str


@dataclass(frozen=True)
class Finding:
    """One observation. ``subject`` says what it is about (``domain``,
    ``ip:192.0.2.1``, ``dkim:s1`` ...); together with ``code`` it identifies
    the finding across audits (drift)."""

    code: str
    severity: Severity
    message: str
    remediation: str
    subject: str = "domain"
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return catalogue()[self.code].title

    def with_severity(self, severity: Severity) -> Finding:
        return Finding(self.code, severity, self.message, self.remediation, self.subject,
                       self.evidence)

    def to_dict(self) -> dict[str, Any]:
        """``{code, severity, message, remediation, evidence}``; the subject
        travels inside the evidence."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "remediation": self.remediation,
            "evidence": {"subject": self.subject, **dict(self.evidence)},
        }


def load_data_file(name: str) -> Any:
    """Parse ``auditor/data/<name>``; a missing or broken file is a CatalogueError."""
    try:
        text = resources.files("auditor").joinpath("data", name).read_text(encoding="utf-8")
        return yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as error:
        raise CatalogueError(f"auditor/data/{name}: {error}") from error


@cache
def catalogue() -> Mapping[str, CodeInfo]:
    """All finding codes, from ``data/codes.yaml``."""
    raw = load_data_file("codes.yaml")
    if not isinstance(raw, dict):
        raise CatalogueError("auditor/data/codes.yaml: expected a mapping of codes")
    codes: dict[str, CodeInfo] = {}
    for code, entry in raw.items():
        where = f"auditor/data/codes.yaml: {code}"
        if not isinstance(entry, dict) or not {"severity", "title", "remediation"} <= set(entry):
            raise CatalogueError(f"{where}: needs severity, title and remediation")
        try:
            severity = Severity(entry["severity"])
        except ValueError as error:
            raise CatalogueError(f"{where}: severity must be block, warn or info") from error
        codes[code] = CodeInfo(code, severity, str(entry["title"]), str(entry["remediation"]))
    return codes


def make_finding(
    code: str,
    message: str,
    *,
    subject: str = "domain",
    evidence: Mapping[str, Any] | None = None,
    severity: Severity | None = None,
) -> Finding:
    """A finding with the catalogue's remediation and (unless given) severity."""
    info = catalogue().get(code)
    if info is None:
        raise CatalogueError(f"finding code {code!r} is not in auditor/data/codes.yaml")
    return Finding(
        code=code,
        severity=severity or info.severity,
        message=message,
        remediation=info.remediation,
        subject=subject,
        evidence=dict(evidence or {}),
    )


def unavailable_finding(lookup: DnsResult, what: str, *, subject: str = "domain") -> Finding:
    """DNS_UNAVAILABLE for a failed lookup: names the name, type, server and reason."""
    return make_finding(
        "DNS_UNAVAILABLE",
        f"{what}: the {lookup.rdtype} lookup of {lookup.name} at {lookup.server} failed "
        f"({lookup.reason}); the result is unknown, not missing.",
        subject=subject,
        evidence={
            "name": lookup.name,
            "type": lookup.rdtype,
            "server": lookup.server,
            "reason": lookup.reason,
            "check": what,
        },
    )
