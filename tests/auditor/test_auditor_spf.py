"""RFC 7208 check_host() against a real DNS server (Appendix A zone, section 7.4 macros)."""

from __future__ import annotations

import pytest

from auditor.errors import PermError
from auditor.spf import analyze_record, check_host, expand_macros, parse_record

APPENDIX_A_ZONE = """
$ORIGIN example.com.
@           MX  10 mail-a
            MX  20 mail-b
            A   192.0.2.10
amy         A   192.0.2.65
bob         A   192.0.2.66
mail-a      A   192.0.2.129
mail-b      A   192.0.2.130
www         CNAME example.com.

$ORIGIN example.org.
@           MX  10 mail-c
mail-c      A   192.0.2.140

$ORIGIN 2.0.192.in-addr.arpa.
10          PTR example.com.
65          PTR amy.example.com.
66          PTR bob.example.com.
129         PTR mail-a.example.com.
130         PTR mail-b.example.com.
140         PTR mail-c.example.org.

$ORIGIN 10.in-addr.arpa.
4.3.2       PTR bob.example.com.
"""

SENDER = "user@example.com"
HELO = "mail.example.net"


@pytest.fixture
def appendix_a(dns_server):
    dns_server.add_zone_text(APPENDIX_A_ZONE)
    return dns_server


def _with_record(server, record: str, name: str = "example.com") -> None:
    server.add_records({name: {"TXT": [record]}})


# Appendix A.1: one record, several client IPs each.
@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 +all", "192.0.2.99", "pass"),
        ("v=spf1 a -all", "192.0.2.10", "pass"),
        ("v=spf1 a -all", "192.0.2.11", "fail"),
        ("v=spf1 a:example.org -all", "192.0.2.10", "fail"),
        ("v=spf1 mx -all", "192.0.2.129", "pass"),
        ("v=spf1 mx -all", "192.0.2.130", "pass"),
        ("v=spf1 mx -all", "192.0.2.140", "fail"),
        ("v=spf1 mx:example.org -all", "192.0.2.140", "pass"),
        ("v=spf1 mx mx:example.org -all", "192.0.2.130", "pass"),
        ("v=spf1 mx mx:example.org -all", "192.0.2.140", "pass"),
        ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", "pass"),
        ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143", "pass"),
        ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.144", "fail"),
        ("v=spf1 ptr -all", "192.0.2.65", "pass"),
        ("v=spf1 ptr -all", "192.0.2.140", "fail"),
        ("v=spf1 ptr -all", "10.0.0.4", "fail"),
        ("v=spf1 ptr -all", "10.2.3.4", "fail"),  # PTR bob.example.com does not confirm
        ("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.65", "fail"),
        ("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.129", "pass"),
        ("v=spf1 ?all", "192.0.2.1", "neutral"),
        ("v=spf1 ~all", "192.0.2.1", "softfail"),
        ("v=spf1 ip4:192.0.2.1", "192.0.2.2", "neutral"),
        ("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1", "pass"),
        ("v=spf1 ip6:2001:db8::/32 -all", "2001:db9::1", "fail"),
        ("v=spf1 ip4:192.0.2.0/24 -all", "::ffff:192.0.2.5", "pass"),
    ],
)
def test_appendix_a_simple_examples(appendix_a, resolver, record, ip, expected):
    _with_record(appendix_a, record)
    assert check_host(ip, SENDER, HELO, resolver=resolver).result == expected


def test_result_names_mechanism_and_lookups(appendix_a, resolver):
    _with_record(appendix_a, "v=spf1 a mx -all")
    result = check_host("192.0.2.129", SENDER, HELO, resolver=resolver)
    assert (result.result, result.mechanism, result.domain) == ("pass", "mx", "example.com")
    assert result.dns_lookups == 2
    miss = check_host("192.0.2.200", SENDER, HELO, resolver=resolver)
    assert (miss.result, miss.mechanism) == ("fail", "-all")


def test_no_record_is_none_and_bad_domain_is_none(appendix_a, resolver):
    assert check_host("192.0.2.1", "a@example.org", HELO, resolver=resolver).result == "none"
    assert check_host("192.0.2.1", "a@nowhere.example", HELO, resolver=resolver).result == "none"
    assert check_host("192.0.2.1", "a@localhost", HELO, resolver=resolver).result == "none"


def test_multiple_records_are_permerror(appendix_a, resolver):
    appendix_a.add_records({"example.com": {"TXT": ["v=spf1 -all", "v=spf1 +all"]}})
    assert check_host("192.0.2.1", SENDER, HELO, resolver=resolver).result == "permerror"


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 foo:bar -all",
        "v=spf1 ip4:300.1.1.1 -all",
        "v=spf1 ip4:192.0.2.0/33",
        "v=spf1 a:example.com/40",
        "v=spf1 include -all",
        "v=spf1 redirect=a.example redirect=b.example",
        "v=spf1 exists:%{z}.example.com",
        "v=spf1 -all:foo",
        "v=spf1 a:%",
    ],
)
def test_syntax_errors_are_permerror(appendix_a, resolver, record):
    _with_record(appendix_a, record)
    assert check_host("192.0.2.10", SENDER, HELO, resolver=resolver).result == "permerror"
    with pytest.raises(PermError):
        parse_record(record)


def test_syntax_error_after_matching_term_is_still_permerror(appendix_a, resolver):
    _with_record(appendix_a, "v=spf1 +all bogus:thing")
    assert check_host("192.0.2.10", SENDER, HELO, resolver=resolver).result == "permerror"


def test_unknown_modifier_is_ignored(appendix_a, resolver):
    _with_record(appendix_a, "v=spf1 moo=cow a -all")
    assert check_host("192.0.2.10", SENDER, HELO, resolver=resolver).result == "pass"


def test_include_results(dns_server, resolver):
    dns_server.add_records(
        {
            "example.com": {"TXT": ["v=spf1 include:pass.example include:fail.example ~all"]},
            "pass.example": {"TXT": ["v=spf1 ip4:192.0.2.1 -all"]},
            "fail.example": {"TXT": ["v=spf1 -ip4:192.0.2.2 ?all"]},
            "none.example": {"A": ["192.0.2.3"]},
            "other.com": {"TXT": ["v=spf1 include:none.example -all"]},
        }
    )
    assert check_host("192.0.2.1", SENDER, HELO, resolver=resolver).result == "pass"
    # A fail inside an include is just "no match": evaluation goes on to ~all.
    result = check_host("192.0.2.2", SENDER, HELO, resolver=resolver)
    assert (result.result, result.mechanism) == ("softfail", "~all")
    # include of a domain without SPF is permerror (section 5.2).
    assert check_host("192.0.2.1", "a@other.com", HELO, resolver=resolver).result == "permerror"


def test_include_of_timeout_is_temperror(dns_server, impatient_resolver):
    dns_server.add_records({"example.com": {"TXT": ["v=spf1 include:spf.timeout.test -all"]}})
    result = check_host("192.0.2.1", SENDER, HELO, resolver=impatient_resolver)
    assert result.result == "temperror"
    assert result.failed_lookup is not None
    assert result.failed_lookup.name == "spf.timeout.test"
    assert result.failed_lookup.reason == "timeout"


def test_servfail_on_record_is_temperror(dns_server, resolver):
    result = check_host("192.0.2.1", "a@servfail.test", HELO, resolver=resolver)
    assert result.result == "temperror"
    assert result.failed_lookup.reason == "servfail"


def test_redirect(dns_server, resolver):
    dns_server.add_records(
        {
            "example.com": {"TXT": ["v=spf1 ip4:198.51.100.1 redirect=_spf.example.net"]},
            "_spf.example.net": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
            "loop.example": {"TXT": ["v=spf1 redirect=loop.example"]},
            "gone.example": {"TXT": ["v=spf1 redirect=nothing.example"]},
            "withall.example": {"TXT": ["v=spf1 ?all redirect=_spf.example.net"]},
        }
    )
    assert check_host("192.0.2.7", SENDER, HELO, resolver=resolver).result == "pass"
    redirected = check_host("203.0.113.1", SENDER, HELO, resolver=resolver)
    assert (redirected.result, redirected.domain) == ("fail", "_spf.example.net")
    assert check_host("192.0.2.7", "a@loop.example", HELO, resolver=resolver).result == "permerror"
    assert check_host("192.0.2.7", "a@gone.example", HELO, resolver=resolver).result == "permerror"
    # redirect is ignored when the record has an all mechanism.
    assert (
        check_host("192.0.2.7", "a@withall.example", HELO, resolver=resolver).result == "neutral"
    )


def test_ten_lookup_limit(dns_server, resolver):
    records = {"example.com": {"TXT": ["v=spf1 " + " ".join(
        f"include:s{i}.example.net" for i in range(11)) + " -all"]}}
    for i in range(11):
        records[f"s{i}.example.net"] = {"TXT": [f"v=spf1 ip4:198.51.100.{i} -all"]}
    dns_server.add_records(records)
    # The tenth include matches: within the limit.
    assert check_host("198.51.100.9", SENDER, HELO, resolver=resolver).result == "pass"
    over = check_host("198.51.100.10", SENDER, HELO, resolver=resolver)
    assert (over.result, over.exceeded_limit) == ("permerror", "dns_lookups")
    assert "10" in (over.problem or "")
    report = analyze_record("example.com", resolver=resolver)
    assert report.valid and report.dns_lookups == 11


def test_void_lookup_limit(dns_server, resolver):
    dns_server.add_records(
        {"example.com": {"TXT": ["v=spf1 a:n1.example.net a:n2.example.net "
                                 "a:n3.example.net ip4:192.0.2.1 -all"]}}
    )
    result = check_host("192.0.2.1", SENDER, HELO, resolver=resolver)
    assert (result.result, result.exceeded_limit) == ("permerror", "void_lookups")
    assert result.void_lookups == 3
    report = analyze_record("example.com", resolver=resolver)
    assert report.void_lookups == 3


def test_exp_explanation(dns_server, resolver):
    dns_server.add_records(
        {
            "example.com": {"TXT": ["v=spf1 mx -all exp=explain._spf.%{d}"]},
            "explain._spf.example.com": {
                "TXT": ["%{i} is not one of %{d}'s designated mail servers."]
            },
            "example.org": {"TXT": ["v=spf1 -all exp=missing.example.org"]},
        }
    )
    result = check_host("192.0.2.200", SENDER, HELO, resolver=resolver)
    assert result.result == "fail"
    assert result.explanation == "192.0.2.200 is not one of example.com's designated mail servers."
    # No TXT at the exp target: still fail, without explanation.
    other = check_host("192.0.2.200", "a@example.org", HELO, resolver=resolver)
    assert (other.result, other.explanation) == ("fail", None)


# Section 7.4 examples.
@pytest.mark.parametrize(
    ("macro", "expanded"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ("%{h}", "mx.example.org"),
        ("%%%_%-", "% %20"),
        ("%{S}", "strong-bad%40email.example.com"),
    ],
)
def test_section_7_4_macro_examples(macro, expanded):
    assert (
        expand_macros(
            macro,
            ip="192.0.2.3",
            sender="strong-bad@email.example.com",
            helo="mx.example.org",
            domain="email.example.com",
        )
        == expanded
    )


def test_section_7_4_ipv6_macro_example():
    assert expand_macros(
        "%{ir}.%{v}._spf.%{d2}",
        ip="2001:db8::cb01",
        sender="strong-bad@email.example.com",
        helo="mx.example.org",
        domain="email.example.com",
    ) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )


def test_exists_with_macros_over_dns(dns_server, resolver):
    dns_server.add_records(
        {
            "email.example.com": {"TXT": ["v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} -all"]},
            "3.2.0.192.strong.lp._spf.example.com": {"A": ["127.0.0.2"]},
        }
    )
    sender = "strong-bad@email.example.com"
    assert check_host("192.0.2.3", sender, HELO, resolver=resolver).result == "pass"
    assert check_host("192.0.2.4", sender, HELO, resolver=resolver).result == "fail"


def test_p_macro_uses_validated_name(appendix_a, resolver):
    appendix_a.add_records(
        {
            "example.org": {"TXT": ["v=spf1 exists:%{p}.ok.example.org -all"]},
            "amy.example.com.ok.example.org": {"A": ["127.0.0.2"]},
        }
    )
    assert check_host("192.0.2.65", "a@example.org", HELO, resolver=resolver).result == "pass"
    assert check_host("192.0.2.66", "a@example.org", HELO, resolver=resolver).result == "fail"


def test_empty_sender_uses_helo_identity(dns_server, resolver):
    dns_server.add_records({"mail.example.net": {"TXT": ["v=spf1 exists:%{l}.%{o}.x.%{h} -all"]},
                            "postmaster.mail.example.net.x.mail.example.net": {"A": ["127.0.0.1"]}})
    assert check_host("192.0.2.1", "", "mail.example.net", resolver=resolver).result == "pass"


def test_exp_only_macros(dns_server, resolver):
    dns_server.add_records(
        {
            "example.com": {"TXT": ["v=spf1 -all exp=why.example.com"]},
            "why.example.com": {"TXT": ["%{c} refused at %{t} by %{r}; see %{d}"]},
        }
    )
    result = check_host("2001:db8::7", SENDER, HELO, resolver=resolver)
    text = result.explanation or ""
    ip, _, rest = text.partition(" refused at ")
    stamp = rest.split(" ", 1)[0]
    assert ip == "2001:db8::7"
    assert stamp.isdigit() and int(stamp) > 1_600_000_000
    assert text.endswith("see example.com")
    # %{c} is not allowed outside explanations.
    dns_server.add_records({"example.org": {"TXT": ["v=spf1 exists:%{c}.example.org -all"]}})
    assert check_host("192.0.2.1", "a@example.org", HELO, resolver=resolver).result == "permerror"
