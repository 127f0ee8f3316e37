"""DKIM key records (RFC 6376 section 3.6.1, RFC 8463 for Ed25519)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from auditor.findings import Finding, Severity, make_finding, unavailable_finding
from auditor.resolver import DnsResolver, DnsResult, DnsStatus

__all__ = [
    "DkimKey",
    "DkimKeyError",
    "DkimSelectorReport",
    "check_selector",
    "parse_key_record",
    "selector_name",
]

# Thresholds in bits; below the first a key is rejected by big receivers.
RSA_BLOCK_BELOW = 1024
RSA_WARN_BELOW = 2048

_SELECTOR = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class DkimKeyError(ValueError):
    """A key record that cannot be interpreted; the message says why."""


@dataclass(frozen=True)
class DkimKey:
    """A parsed key record. ``bits`` is ``None`` for a revoked key."""

    key_type: str
    bits: int | None
    testing: bool
    revoked: bool
    hash_algorithms: tuple[str, ...] | None
    record: str


@dataclass(frozen=True)
class DkimSelectorReport:
    selector: str
    name: str
    present: bool | None  # None: the lookup failed, so it is unknown
    key: DkimKey | None
    findings: tuple[Finding, ...]
    lookup: DnsResult

    def to_dict(self) -> dict[str, object]:
        return {
            "present": self.present,
            "key_type": self.key.key_type if self.key else None,
            "key_bits": self.key.bits if self.key else None,
            "testing": self.key.testing if self.key else None,
        }


def selector_name(selector: str, domain: str) -> str:
    """``SELECTOR._domainkey.DOMAIN``; raises ValueError on a malformed selector."""
    if not _SELECTOR.match(selector):
        raise ValueError(f"DKIM selector {selector!r} is not a valid DNS label sequence")
    return f"{selector}._domainkey.{domain}".lower()


def _tags(record: str) -> dict[str, str]:
    """RFC 6376 section 3.2 tag-list; duplicate tags are an error."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not _TAG.match(name):
            raise DkimKeyError(f"not a tag=value pair: {part.strip()!r}")
        if name in tags:
            raise DkimKeyError(f"tag {name}= appears twice")
        tags[name] = re.sub(r"\s+", "", value) if name == "p" else value.strip()
    return tags


def _rsa_bits(der: bytes) -> int:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        # Some signers publish a bare PKCS#1 RSAPublicKey instead of
        # SubjectPublicKeyInfo; receivers such as OpenDKIM accept both.
        pem = (b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der)
               + b"-----END RSA PUBLIC KEY-----\n")
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as error:
            raise DkimKeyError("p= is not an RSA public key") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimKeyError(f"k=rsa but p= holds a {type(key).__name__}")
    return key.key_size


def parse_key_record(record: str) -> DkimKey:
    """Parse a DKIM key TXT record; raises :class:`DkimKeyError`."""
    tags = _tags(record)
    if "v" in tags and (tags["v"] != "DKIM1" or not record.lstrip().startswith("v=")):
        raise DkimKeyError("v= must be DKIM1 and the first tag")
    if "p" not in tags:
        raise DkimKeyError("required tag p= (public key) is missing")
    key_type = tags.get("k", "rsa").lower()
    flags = {f.strip() for f in tags.get("t", "").split(":")}
    hashes = tuple(h.strip().lower() for h in tags["h"].split(":")) if "h" in tags else None
    if not tags["p"]:
        return DkimKey(key_type, None, "y" in flags, True, hashes, record)
    try:
        der = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError) as error:
        raise DkimKeyError("p= is not valid base64") from error
    if key_type == "rsa":
        bits = _rsa_bits(der)
    elif key_type == "ed25519":
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(der)
        except ValueError as error:
            raise DkimKeyError("p= is not a 32-byte Ed25519 public key") from error
        bits = 256
    else:
        raise DkimKeyError(f"unknown key type k={key_type} (rsa or ed25519 expected)")
    return DkimKey(key_type, bits, "y" in flags, False, hashes, record)


def check_selector(domain: str, selector: str, *, resolver: DnsResolver) -> DkimSelectorReport:
    """Look up and judge the key published for ``selector`` at ``domain``."""
    name = selector_name(selector, domain)
    subject = f"dkim:{selector}"
    lookup = resolver.query(name, "TXT")
    if lookup.unavailable:
        finding = unavailable_finding(lookup, f"DKIM key for selector {selector}", subject=subject)
        return DkimSelectorReport(selector, name, None, None, (finding,), lookup)
    records = (
        [r for r in lookup.records if "p=" in r or r.lstrip().startswith("v=DKIM1")]
        if lookup.status is DnsStatus.ANSWER
        else []
    )
    if not records:
        finding = make_finding(
            "DKIM_MISSING",
            f"No DKIM key record at {name}.",
            subject=subject,
            evidence={"name": name, "dns": lookup.status.value,
                      "txt": list(lookup.records)},
        )
        return DkimSelectorReport(selector, name, False, None, (finding,), lookup)
    if len(records) > 1:
        finding = make_finding(
            "DKIM_INVALID", f"{len(records)} key records at {name}; receivers need exactly one.",
            subject=subject, evidence={"name": name, "records": records},
        )
        return DkimSelectorReport(selector, name, True, None, (finding,), lookup)
    record = records[0]
    try:
        key = parse_key_record(record)
    except DkimKeyError as error:
        finding = make_finding(
            "DKIM_INVALID", f"The key record at {name} is invalid: {error}.",
            subject=subject, evidence={"name": name, "record": record},
        )
        return DkimSelectorReport(selector, name, True, None, (finding,), lookup)
    findings: list[Finding] = []
    evidence = {"name": name, "record": record, "key_type": key.key_type, "key_bits": key.bits}
    if key.revoked:
        findings.append(make_finding(
            "DKIM_REVOKED", f"The key at {name} is revoked (empty p=).",
            subject=subject, evidence=evidence))
    elif key.key_type == "rsa" and key.bits is not None and key.bits < RSA_WARN_BELOW:
        severity = Severity.BLOCK if key.bits < RSA_BLOCK_BELOW else Severity.WARN
        findings.append(make_finding(
            "DKIM_WEAK_KEY",
            f"The RSA key at {name} has {key.bits} bits (minimum {RSA_BLOCK_BELOW}, "
            f"recommended {RSA_WARN_BELOW}).",
            subject=subject, evidence=evidence, severity=severity))
    if key.testing:
        findings.append(make_finding(
            "DKIM_TESTING", f"The key at {name} is flagged t=y (testing).",
            subject=subject, evidence=evidence))
    if key.hash_algorithms is not None and "sha256" not in key.hash_algorithms:
        findings.append(make_finding(
            "DKIM_SHA1_ONLY", f"The key at {name} allows only h={':'.join(key.hash_algorithms)}.",
            subject=subject, evidence=evidence))
    return DkimSelectorReport(selector, name, True, key, tuple(findings), lookup)
