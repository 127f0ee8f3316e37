"""Fixture zones for a well-configured sender, shared by tests and the benchmark."""

from __future__ import annotations

import base64
import ipaddress
from functools import cache

import dns.reversename
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


@cache
def rsa_key_b64(bits: int) -> str:
    """Base64 SubjectPublicKeyInfo of an RSA key of ``bits`` bits.

    cryptography refuses to generate keys under 1024 bits, so short keys are
    built from a modulus of the right length (only the length is checked).
    """
    if bits >= 1024:
        public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    else:
        public = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 0xF00D5).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@cache
def rsa_pkcs1_key_b64(bits: int) -> str:
    public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return base64.b64encode(der).decode()


@cache
def ed25519_key_b64() -> str:
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode()


def reverse(ip: str) -> str:
    return dns.reversename.from_address(ip).to_text(omit_final_dot=True)


def good_sender(
    domain: str = "example.com",
    ips: tuple[str, ...] = ("192.0.2.1", "2001:db8::1"),
    selectors: tuple[str, ...] = ("s1", "s2"),
) -> dict[str, dict[str, list[str]]]:
    """Records of a sender that passes every check."""
    mail = f"mail.{domain}"
    v4 = [ip for ip in ips if ipaddress.ip_address(ip).version == 4]
    v6 = [ip for ip in ips if ipaddress.ip_address(ip).version == 6]
    spf_terms = [f"ip4:{ip}" for ip in v4] + [f"ip6:{ip}" for ip in v6]
    records: dict[str, dict[str, list[str]]] = {
        domain: {
            "TXT": [f"v=spf1 {' '.join(spf_terms)} include:_spf.esp.example -all"],
            "MX": [f"10 {mail}."],
        },
        "_spf.esp.example": {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
        mail: {"A": v4, "AAAA": v6} if v6 else {"A": v4},
        f"_dmarc.{domain}": {"TXT": [f"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"]},
        f"_mta-sts.{domain}": {"TXT": ["v=STSv1; id=20240101"]},
        f"_smtp._tls.{domain}": {"TXT": [f"v=TLSRPTv1; rua=mailto:tls@{domain}"]},
        f"default._bimi.{domain}": {"TXT": [f"v=BIMI1; l=https://{domain}/logo.svg"]},
    }
    for ip in ips:
        records[reverse(ip)] = {"PTR": [f"{mail}."]}
    for i, selector in enumerate(selectors):
        key = (f"k=rsa; p={rsa_key_b64(2048)}" if i % 2 == 0
               else f"k=ed25519; p={ed25519_key_b64()}")
        records[f"{selector}._domainkey.{domain}"] = {"TXT": [f"v=DKIM1; {key}"]}
    if not v6:
        records[mail].pop("AAAA", None)
    return records
