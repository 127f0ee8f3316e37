"""Whole-sender audits against real fixture zones: every finding code, fail-closed, API shape."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from auditor import (
    ProfileError,
    SenderAudit,
    SenderSpec,
    SenderSpecError,
    audit_drift,
    audit_many,
    audit_sender,
    catalogue,
    render_text,
)
from tests.auditor.sender_zone import (
    ed25519_key_b64,
    good_sender,
    reverse,
    rsa_key_b64,
    rsa_pkcs1_key_b64,
)

DOMAIN = "example.com"
IPS = ("192.0.2.1", "2001:db8::1")
HELO = "mail.example.com"


def _spec(**overrides) -> SenderSpec:
    values = {"domain": DOMAIN, "ips": IPS, "dkim_selectors": ("s1", "s2"), "helo": HELO}
    values.update(overrides)
    return SenderSpec(**values)


def _audit(server, resolver, records, spec=None, **kwargs) -> SenderAudit:
    server.add_records(records)
    return audit_sender(spec or _spec(), resolver=resolver, **kwargs)


def _codes(audit: SenderAudit) -> dict[str, str]:
    return {f.code: f.severity.value for f in audit.findings}


def test_well_configured_sender_passes(dns_server, resolver):
    audit = _audit(dns_server, resolver, good_sender())
    assert audit.findings == ()
    assert audit.verdict == "pass"
    data = audit.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"domain", "verdict", "findings", "spf", "dkim", "dmarc", "ips"}
    assert set(data["spf"]) == {"record", "valid", "dns_lookups", "ip_results"}
    assert data["spf"]["ip_results"] == {"192.0.2.1": "pass", "2001:db8::1": "pass"}
    assert data["spf"]["dns_lookups"] == 1
    assert data["dkim"]["s1"] == {"present": True, "key_type": "rsa", "key_bits": 2048,
                                  "testing": False}
    assert data["dkim"]["s2"]["key_type"] == "ed25519"
    assert data["dmarc"]["policy"] == "reject"
    assert data["dmarc"]["record"].startswith("v=DMARC1")
    assert data["ips"]["192.0.2.1"] == {"ptr": "mail.example.com", "fcrdns": True,
                                        "listings": []}
    assert data["ips"]["2001:db8::1"]["fcrdns"] is True


# ----------------------------------------------------------------------------
# One scenario per finding code. Each mutates the good sender's zone (and
# possibly the spec) and names the code and severity it must produce.
# ----------------------------------------------------------------------------
@dataclass
class Scenario:
    code: str
    severity: str
    mutate: Callable[[dict], None] = lambda records: None
    spec: dict = field(default_factory=dict)
    server: Callable[[object], None] = lambda server: None


def _txt(name: str, *values: str) -> Callable[[dict], None]:
    def mutate(records: dict) -> None:
        records.setdefault(name, {})["TXT"] = list(values)
    return mutate


def _drop(name: str, rdtype: str | None = None) -> Callable[[dict], None]:
    def mutate(records: dict) -> None:
        if rdtype is None:
            records.pop(name, None)
        else:
            records.get(name, {}).pop(rdtype, None)
    return mutate


def _many(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(records: dict) -> None:
        for m in mutations:
            m(records)
    return mutate


def _add(name: str, rdtype: str, *values: str) -> Callable[[dict], None]:
    def mutate(records: dict) -> None:
        records.setdefault(name, {})[rdtype] = list(values)
    return mutate


_ELEVEN_INCLUDES = _many(
    _txt(DOMAIN, "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 "
         + " ".join(f"include:i{i}.esp.example" for i in range(11)) + " -all"),
    *[_txt(f"i{i}.esp.example", f"v=spf1 ip4:198.51.100.{i} -all") for i in range(11)],
)

SCENARIOS = [
    Scenario("SPF_MISSING", "block", _txt(DOMAIN, "google-site-verification=abc")),
    Scenario("SPF_INVALID", "block", _txt(DOMAIN, "v=spf1 ip4:192.0.2.1 bogus:x -all")),
    Scenario("SPF_TOO_MANY_LOOKUPS", "block", _ELEVEN_INCLUDES),
    Scenario("SPF_VOID_LOOKUPS", "block", _txt(
        DOMAIN, "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 a:gone1.example.com "
        "a:gone2.example.com mx:gone3.example.com -all")),
    Scenario("SPF_PERMISSIVE_ALL", "block", _txt(DOMAIN, "v=spf1 ip4:192.0.2.1 +all")),
    Scenario("SPF_NO_ALL", "warn", _txt(DOMAIN, "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1")),
    Scenario("SPF_IP_NOT_AUTHORIZED", "block",
             _txt(DOMAIN, "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::1 -all")),
    Scenario("DKIM_MISSING", "block", _drop(f"s1._domainkey.{DOMAIN}")),
    Scenario("DKIM_INVALID", "block", _txt(f"s1._domainkey.{DOMAIN}", "v=DKIM1; k=rsa; p=@@@")),
    Scenario("DKIM_WEAK_KEY", "block",
             _txt(f"s1._domainkey.{DOMAIN}", f"v=DKIM1; k=rsa; p={rsa_key_b64(768)}")),
    Scenario("DKIM_TESTING", "warn", _txt(
        f"s2._domainkey.{DOMAIN}", f"v=DKIM1; k=ed25519; t=y; p={ed25519_key_b64()}")),
    Scenario("DKIM_REVOKED", "block", _txt(f"s1._domainkey.{DOMAIN}", "v=DKIM1; k=rsa; p=")),
    Scenario("DKIM_SHA1_ONLY", "warn", _txt(
        f"s1._domainkey.{DOMAIN}", f"v=DKIM1; h=sha1; k=rsa; p={rsa_key_b64(2048)}")),
    Scenario("DMARC_MISSING", "block", _drop(f"_dmarc.{DOMAIN}")),
    Scenario("DMARC_INVALID", "block", _txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=maybe")),
    Scenario("DMARC_POLICY_NONE", "warn",
             _txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=none; rua=mailto:d@example.com")),
    Scenario("DMARC_PCT_PARTIAL", "warn",
             _txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=quarantine; pct=50; rua=mailto:d@example.com")),
    Scenario("DMARC_NO_RUA", "warn", _txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject")),
    Scenario("DMARC_SUBDOMAIN_POLICY_WEAK", "info",
             _txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject; sp=none; rua=mailto:d@example.com")),
    Scenario("DMARC_STRICT_ALIGNMENT", "info",
             _txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject; adkim=s; rua=mailto:d@example.com")),
    Scenario("DMARC_ALIGNMENT_IMPOSSIBLE", "block",
             _txt("_dmarc.brand.example", "v=DMARC1; p=reject; rua=mailto:d@brand.example"),
             spec={"from_domain": "brand.example"}),
    Scenario("DMARC_ALIGNMENT_PARTIAL", "info",
             _txt(f"_dmarc.news.{DOMAIN}", "v=DMARC1; p=reject; aspf=s; rua=mailto:d@example.com"),
             spec={"from_domain": f"news.{DOMAIN}"}),
    Scenario("PTR_MISSING", "block", _drop(reverse("192.0.2.1"))),
    Scenario("FCRDNS_MISMATCH", "block", _many(
        _add(reverse("192.0.2.1"), "PTR", "relay.example.com."),
        _add("relay.example.com", "A", "192.0.2.99"))),
    Scenario("PTR_GENERIC", "warn", _many(
        _add(reverse("192.0.2.1"), "PTR", "192-0-2-1.dyn.isp.example."),
        _add("192-0-2-1.dyn.isp.example", "A", "192.0.2.1"))),
    Scenario("HELO_MISMATCH", "warn", _add("helo.example.com", "A", "192.0.2.50"),
             spec={"helo": "helo.example.com"}),
    Scenario("HELO_MISSING", "info", spec={"helo": None}),
    Scenario("DNSBL_LISTED", "block", _add("1.2.0.192.zen.spamhaus.org", "A", "127.0.0.10")),
    Scenario("DNSBL_ERROR", "warn", _add("1.2.0.192.zen.spamhaus.org", "A", "127.255.255.254")),
    Scenario("DNS_UNAVAILABLE", "block",
             server=lambda server: server.never_answer(f"s1._domainkey.{DOMAIN}")),
    Scenario("MX_MISSING", "warn", _drop(DOMAIN, "MX")),
    Scenario("MTA_STS_MISSING", "info", _drop(f"_mta-sts.{DOMAIN}")),
    Scenario("MTA_STS_INVALID", "warn", _txt(f"_mta-sts.{DOMAIN}", "v=STSv1; id=not-valid!")),
    Scenario("TLSRPT_MISSING", "info", _drop(f"_smtp._tls.{DOMAIN}")),
    Scenario("TLSRPT_INVALID", "warn", _txt(f"_smtp._tls.{DOMAIN}", "v=TLSRPTv1; rua=ftp://x")),
    Scenario("BIMI_MISSING", "info", _drop(f"default._bimi.{DOMAIN}")),
    Scenario("BIMI_INVALID", "info",
             _txt(f"default._bimi.{DOMAIN}", "v=BIMI1; l=http://example.com/logo.svg")),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.code for s in SCENARIOS])
def test_each_finding_code_is_produced_by_a_zone(
    dns_server, resolver, impatient_resolver, scenario
):
    records = copy.deepcopy(good_sender())
    scenario.mutate(records)
    scenario.server(dns_server)
    chosen = impatient_resolver if scenario.code == "DNS_UNAVAILABLE" else resolver
    audit = _audit(dns_server, chosen, records, _spec(**scenario.spec))
    codes = _codes(audit)
    assert scenario.code in codes, codes
    assert codes[scenario.code] == scenario.severity
    expected_verdict = {"block": "block", "warn": "warn", "info": "pass"}
    if all(sev == "info" for code, sev in codes.items() if code != scenario.code):
        assert audit.verdict == expected_verdict[scenario.severity]
    finding = next(f for f in audit.findings if f.code == scenario.code)
    assert finding.message and finding.remediation and finding.evidence


def test_scenarios_cover_the_whole_catalogue():
    assert {s.code for s in SCENARIOS} == set(catalogue())


# ----------------------------------------------------------------------------
# Fail closed
# ----------------------------------------------------------------------------
def test_spf_timeout_is_unavailable_not_missing(dns_server, impatient_resolver):
    dns_server.never_answer(DOMAIN, rdtype="TXT", subtree=False)
    audit = _audit(dns_server, impatient_resolver, good_sender(), _spec(ips=("192.0.2.1",)))
    codes = _codes(audit)
    assert "SPF_MISSING" not in codes
    assert audit.verdict == "block"
    unavailable = [f for f in audit.findings if f.code == "DNS_UNAVAILABLE"]
    assert "domain" in {f.subject for f in unavailable}
    finding = next(f for f in unavailable if f.subject == "domain")
    assert (finding.evidence["name"], finding.evidence["type"]) == (DOMAIN, "TXT")
    assert finding.evidence["reason"] == "timeout"
    assert finding.evidence["server"] == dns_server.nameserver
    assert dns_server.nameserver in finding.message
    data = audit.to_dict()
    assert data["spf"]["valid"] is None  # unknown, not invalid
    assert data["spf"]["ip_results"] == {"192.0.2.1": "temperror"}
    assert "status: unavailable" in render_text(audit)


def test_whole_zone_timing_out_reports_nothing_missing(dns_server, impatient_resolver):
    dns_server.add_records(good_sender(domain="sender.timeout.test"))
    audit = audit_sender(
        SenderSpec("sender.timeout.test", dkim_selectors=["s1"]), resolver=impatient_resolver
    )
    codes = _codes(audit)
    assert codes["DNS_UNAVAILABLE"] == "block"
    assert not {c for c in codes if c.endswith("_MISSING")}
    assert audit.verdict == "block"
    data = audit.to_dict()
    assert data["dkim"]["s1"] == {"present": None, "key_type": None, "key_bits": None,
                                  "testing": None}
    assert data["dmarc"]["record"] is None
    assert "s1: unknown (DNS unavailable)" in render_text(audit)


def test_dmarc_servfail_is_unavailable_not_missing(dns_server, resolver):
    records = good_sender()
    records.pop(f"_dmarc.{DOMAIN}")
    dns_server.answer_servfail(f"_dmarc.{DOMAIN}")
    audit = _audit(dns_server, resolver, records)
    codes = _codes(audit)
    assert "DMARC_MISSING" not in codes
    finding = next(f for f in audit.findings if f.code == "DNS_UNAVAILABLE")
    assert finding.evidence["name"] == f"_dmarc.{DOMAIN}"
    assert finding.evidence["reason"] == "servfail"
    assert audit.verdict == "block"


def test_spf_include_timeout_blocks(dns_server, impatient_resolver):
    records = good_sender()
    records[DOMAIN]["TXT"] = ["v=spf1 include:spf.timeout.test ip4:192.0.2.1 -all"]
    audit = _audit(dns_server, impatient_resolver, records)
    assert audit.verdict == "block"
    assert "DNS_UNAVAILABLE" in _codes(audit)
    assert "SPF_MISSING" not in _codes(audit)


def test_dnsbl_timeout_blocks(dns_server, impatient_resolver):
    dns_server.never_answer("zen.spamhaus.org")
    audit = _audit(dns_server, impatient_resolver, good_sender())
    unavailable = [f for f in audit.findings if f.code == "DNS_UNAVAILABLE"]
    listing_checks = [f for f in unavailable if "zen.spamhaus.org" in f.evidence["name"]]
    assert {f.subject for f in listing_checks} == {"ip:192.0.2.1", "ip:2001:db8::1"}
    assert audit.verdict == "block"


# ----------------------------------------------------------------------------
# DNSBL meanings
# ----------------------------------------------------------------------------
def test_dnsbl_listing_meaning_and_spamhaus_error(dns_server, resolver):
    records = good_sender()
    records["1.2.0.192.zen.spamhaus.org"] = {"A": ["127.0.0.10", "127.0.0.4"]}
    records["1.2.0.192.bl.spamcop.net"] = {"A": ["127.0.0.2"]}
    nibbles = "1." + "0." * 23 + "8.b.d.0.1.0.0.2"
    records[f"{nibbles}.zen.spamhaus.org"] = {"A": ["127.255.255.254"]}
    audit = _audit(dns_server, resolver, records)
    ips = audit.to_dict()["ips"]
    listings = {(item["zone"], item["code"]): item["meaning"]
                for item in ips["192.0.2.1"]["listings"]}
    assert listings[("zen.spamhaus.org", "127.0.0.10")].startswith(
        "PBL (ISP): dynamic/end-user range: not a fixed sending IP")
    assert "XBL" in listings[("zen.spamhaus.org", "127.0.0.4")]
    assert ("bl.spamcop.net", "127.0.0.2") in listings
    assert ips["2001:db8::1"]["listings"] == []
    error = next(f for f in audit.findings if f.code == "DNSBL_ERROR")
    assert error.evidence["ip"] == "2001:db8::1"
    assert "public or open resolver" in error.message
    listed = [f for f in audit.findings if f.code == "DNSBL_LISTED"]
    assert {f.subject for f in listed} == {"ip:192.0.2.1:zen.spamhaus.org",
                                           "ip:192.0.2.1:bl.spamcop.net"}


def test_custom_dnsbl_zones(dns_server, resolver):
    records = good_sender()
    records["1.2.0.192.bl.example.net"] = {"A": ["127.0.0.5"]}
    audit = _audit(dns_server, resolver, records, dnsbl_zones=["bl.example.net"])
    assert audit.to_dict()["ips"]["192.0.2.1"]["listings"] == [
        {"zone": "bl.example.net", "code": "127.0.0.5", "meaning": "listed (return code 127.0.0.5)"}
    ]


# ----------------------------------------------------------------------------
# DKIM key details
# ----------------------------------------------------------------------------
def test_dkim_1024_bit_key_warns_and_pkcs1_keys_parse(dns_server, resolver):
    records = good_sender()
    records[f"s1._domainkey.{DOMAIN}"] = {"TXT": [f"v=DKIM1; k=rsa; p={rsa_key_b64(1024)}"]}
    records[f"s2._domainkey.{DOMAIN}"] = {"TXT": [f"v=DKIM1; p={rsa_pkcs1_key_b64(2048)}"]}
    audit = _audit(dns_server, resolver, records)
    assert _codes(audit) == {"DKIM_WEAK_KEY": "warn"}
    assert audit.to_dict()["dkim"]["s2"]["key_bits"] == 2048
    assert audit.verdict == "warn"


def test_no_selectors_is_dkim_missing(dns_server, resolver):
    audit = _audit(dns_server, resolver, good_sender(), _spec(dkim_selectors=()))
    assert _codes(audit)["DKIM_MISSING"] == "block"
    assert "DMARC_ALIGNMENT_PARTIAL" in _codes(audit)  # SPF still aligns, DKIM cannot


# ----------------------------------------------------------------------------
# Profiles, spec validation, report, drift, many
# ----------------------------------------------------------------------------
def test_profile_changes_severity(dns_server, resolver):
    records = good_sender()
    records.pop(f"_dmarc.{DOMAIN}")
    dns_server.add_records(records)
    bulk = audit_sender(_spec(), resolver=resolver, profile="bulk-sender-2024")
    everyone = audit_sender(_spec(), resolver=resolver, profile="all-senders-2024")
    assert _codes(bulk)["DMARC_MISSING"] == "block"
    assert _codes(everyone)["DMARC_MISSING"] == "warn"
    assert (bulk.verdict, everyone.verdict) == ("block", "warn")
    with pytest.raises(ProfileError, match="no-such-profile"):
        audit_sender(_spec(), resolver=resolver, profile="no-such-profile")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain": "not a domain"}, "sender domain"),
        ({"ips": ["192.0.2.300"]}, "192.0.2.300"),
        ({"dkim_selectors": ["bad selector"]}, "selector"),
        ({"helo": "-bad-.example"}, "HELO"),
    ],
)
def test_sender_spec_rejects_bad_input(overrides, message):
    with pytest.raises(SenderSpecError, match=message):
        _spec(**overrides)


def test_render_text_report(dns_server, resolver):
    records = good_sender()
    records[f"_dmarc.{DOMAIN}"]["TXT"] = ["v=DMARC1; p=none; rua=mailto:d@example.com"]
    audit = _audit(dns_server, resolver, records)
    text = render_text(audit)
    assert "verdict: WARN" in text
    assert "DMARC_POLICY_NONE" in text and "What to do:" in text
    assert "192.0.2.1: PTR mail.example.com   FCrDNS: yes" in text
    assert "s1: rsa 2048 bits" in text


def test_drift_between_audits(dns_server, resolver):
    records = good_sender()
    dns_server.add_records(records)
    before = audit_sender(_spec(), resolver=resolver)
    dns_server.add_records({"1.2.0.192.bl.spamcop.net": {"A": ["127.0.0.2"]}})
    dns_server.add_records({f"_dmarc.{DOMAIN}": {"TXT": ["v=DMARC1; p=reject"]}})
    after = audit_sender(_spec(), resolver=resolver)  # two DMARC records now: invalid
    drift = audit_drift(before, json.loads(json.dumps(after.to_dict())))
    appeared = {(i.code, i.subject) for i in drift.appeared}
    assert ("DNSBL_LISTED", "ip:192.0.2.1:bl.spamcop.net") in appeared
    assert ("DMARC_INVALID", "domain") in appeared
    assert drift.cleared == ()
    assert (drift.verdict_before, drift.verdict_after) == ("pass", "block")
    back = audit_drift(after, before)
    assert {(i.code, i.subject) for i in back.cleared} == appeared
    assert back.changed and not audit_drift(before, before).changed
    with pytest.raises(ValueError, match="different senders"):
        audit_drift(before, {"domain": "other.example", "verdict": "pass", "findings": []})


def test_audit_many_keeps_order(dns_server, resolver):
    domains = [f"d{i}.example" for i in range(6)]
    for i, domain in enumerate(domains):
        dns_server.add_records(good_sender(domain=domain, ips=(f"192.0.2.{10 + i}",)))
    specs = [SenderSpec(d, ips=[f"192.0.2.{10 + i}"], dkim_selectors=["s1", "s2"],
                        helo=f"mail.{d}") for i, d in enumerate(domains)]
    audits = audit_many(specs, resolver=resolver, concurrency=3)
    assert [a.domain for a in audits] == domains
    assert all(a.verdict == "pass" for a in audits), [_codes(a) for a in audits]
    # Each audit counts its own lookups even though the resolver is shared.
    serial = audit_sender(specs[0], resolver=resolver)
    assert serial.dns_lookups > 10
    assert [a.dns_lookups for a in audits] == [serial.dns_lookups] * len(domains)


def test_dkim_record_without_key_is_invalid_not_missing(dns_server, resolver):
    records = good_sender()
    records[f"s1._domainkey.{DOMAIN}"] = {"TXT": ["v=DKIM1; k=rsa"]}
    audit = _audit(dns_server, resolver, records)
    finding = next(f for f in audit.findings if f.subject == "dkim:s1")
    assert finding.code == "DKIM_INVALID"
    assert "p=" in finding.message


def test_limit_hit_only_during_evaluation_is_reported_per_ip(dns_server, resolver):
    records = good_sender()
    # Macro targets are not followed by the record walk, so only the
    # evaluation for each IP meets the void-lookup limit.
    records[DOMAIN]["TXT"] = [
        "v=spf1 exists:%{i}.a.example.com exists:%{i}.b.example.com "
        "exists:%{i}.c.example.com ip4:192.0.2.1 ip6:2001:db8::1 -all"
    ]
    audit = _audit(dns_server, resolver, records)
    voids = [f for f in audit.findings if f.code == "SPF_VOID_LOOKUPS"]
    assert {f.subject for f in voids} == {"ip:192.0.2.1", "ip:2001:db8::1"}
    assert audit.to_dict()["spf"]["ip_results"] == {"192.0.2.1": "permerror",
                                                    "2001:db8::1": "permerror"}
