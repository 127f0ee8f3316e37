"""Record parsers and name heuristics that need no DNS."""

from __future__ import annotations

import base64

import pytest

from auditor import catalogue, get_profile, profile_names
from auditor.dkim import DkimKeyError, parse_key_record
from auditor.dmarc import DmarcError, aligned, organizational_domain
from auditor.dmarc import parse_record as parse_dmarc
from auditor.dnsbl import query_name, zone_info
from auditor.iprep import generic_name_reason
from tests.auditor.sender_zone import ed25519_key_b64, rsa_key_b64


@pytest.mark.parametrize(
    ("name", "ip", "generic"),
    [
        ("mail.example.com", "192.0.2.1", False),
        ("smtp-out-3.example.net", "192.0.2.1", False),
        ("192-0-2-1.example.net", "192.0.2.1", True),
        ("1.2.0.192.rev.example.net", "192.0.2.1", True),
        ("host192000002001.example.net", "192.0.2.1", True),
        ("c0000201.example.net", "192.0.2.1", True),
        ("dyn-77.isp.example", "198.51.100.7", True),
        ("dhcp.isp.example", "198.51.100.7", True),
        ("adsl-line.isp.example", "198.51.100.7", True),
        ("cpe.cable.isp.example", "198.51.100.7", True),
        ("pool-3.isp.example", "198.51.100.7", True),
        ("ec2-198-51-100-7.compute-1.amazonaws.com", "198.51.100.7", True),
        ("2001-db8--1.v6.example", "2001:db8::1", True),
        ("mx.v6.example", "2001:db8::1", False),
    ],
)
def test_generic_ptr_names(name, ip, generic):
    assert (generic_name_reason(name, ip) is not None) == generic


def test_dkim_key_parsing():
    rsa = parse_key_record(f"v=DKIM1; k=rsa; t=y:s; p={rsa_key_b64(2048)}")
    assert (rsa.key_type, rsa.bits, rsa.testing, rsa.revoked) == ("rsa", 2048, True, False)
    folded = rsa_key_b64(2048)
    spaced = " ".join(folded[i : i + 60] for i in range(0, len(folded), 60))
    assert parse_key_record(f"p={spaced}").bits == 2048  # whitespace inside p= is allowed
    ed = parse_key_record(f"v=DKIM1; k=ed25519; p={ed25519_key_b64()}")
    assert (ed.key_type, ed.bits) == ("ed25519", 256)
    assert parse_key_record("v=DKIM1; p=").revoked


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("k=rsa; v=DKIM1; p=", "first"),
        ("v=DKIM1; k=rsa", "p="),
        ("v=DKIM1; p=abc; p=abc", "twice"),
        ("v=DKIM1; k=dsa; p=" + base64.b64encode(b"x" * 40).decode(), "unknown key type"),
        ("v=DKIM1; k=ed25519; p=" + base64.b64encode(b"x" * 31).decode(), "Ed25519"),
        ("v=DKIM1; k=rsa; p=" + base64.b64encode(b"not a key").decode(), "RSA"),
        ("v=DKIM1; k=rsa; p=%%%", "base64"),
        ("v=DKIM1; garbage", "tag=value"),
    ],
)
def test_dkim_key_errors(record, message):
    with pytest.raises(DkimKeyError, match=message):
        parse_key_record(record)


def test_dmarc_parsing_and_alignment():
    policy = parse_dmarc("v=DMARC1; p=quarantine; sp=none; pct=25; adkim=s; "
                         "rua=mailto:a@example.com,mailto:b@example.net")
    assert (policy.policy, policy.subdomain_policy, policy.pct) == ("quarantine", "none", 25)
    assert (policy.adkim, policy.aspf) == ("s", "r")
    assert policy.rua == ("mailto:a@example.com", "mailto:b@example.net")
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert organizational_domain("news.example.com") == "example.com"
    assert aligned("bounce.example.com", "news.example.com", "r")
    assert not aligned("bounce.example.com", "news.example.com", "s")
    assert not aligned("example.net", "example.com", "r")


@pytest.mark.parametrize(
    "record",
    ["p=reject", "v=DMARC1", "v=DMARC1; p=block", "v=DMARC1; p=none; pct=150",
     "v=DMARC1; p=none; adkim=x", "v=DMARC1; p=none; p=reject", "v=DMARC1; p=none; rua=nope"],
)
def test_dmarc_errors(record):
    with pytest.raises(DmarcError):
        parse_dmarc(record)


def test_dnsbl_names_and_meanings():
    assert query_name("192.0.2.1", "zen.spamhaus.org") == "1.2.0.192.zen.spamhaus.org"
    assert query_name("2001:db8::1", "zen.spamhaus.org").startswith("1.0.0.0.")
    zen = zone_info("ZEN.spamhaus.org.")
    assert "SBL" in zen.codes["127.0.0.2"]
    assert "127.255.255.254" in zen.error_codes
    assert zone_info("bl.unknown.example").codes == {}


def test_catalogue_and_profiles_are_complete():
    codes = catalogue()
    assert {"SPF_MISSING", "DNS_UNAVAILABLE", "DNSBL_ERROR", "DKIM_WEAK_KEY"} <= set(codes)
    assert all(info.title and len(info.remediation) > 40 for info in codes.values())
    assert codes["DNS_UNAVAILABLE"].severity.value == "block"
    assert {"bulk-sender-2024", "all-senders-2024"} <= set(profile_names())
    bulk = get_profile("bulk-sender-2024")
    assert bulk.severities["FCRDNS_MISMATCH"].value == "block"
    assert bulk.sources and bulk.not_checked_here
