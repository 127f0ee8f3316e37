"""Commercial-email law findings: realistic compliant and non-compliant mails per country."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rules._datafile import DataFileError
from rules.legal import JURISDICTIONS_DIR, jurisdictions, load_jurisdictions
from rules.regional import assess
from tests.rules.regional_templates import US_FOOTER, by_code, codes, template

KST = ZoneInfo("Asia/Seoul")
KR_DAY = datetime(2026, 11, 23, 10, 30, tzinfo=KST)

KR_COMPLIANT_HTML = """
<html><body>
<h1>가을 신상품 최대 30% 할인</h1>
<p>고객님, 올가을 새로 들어온 니트와 코트를 특별한 가격에 만나보세요. 이번 주 일요일까지
전 상품 무료 배송입니다.</p>
<hr>
<p>상호: ㈜샘플쇼핑 | 대표: 김민수 | 사업자등록번호: 123-45-67890<br>
주소: 서울특별시 강남구 테헤란로 123, 4층<br>
고객센터: 02-1234-5678 | 이메일: help@sample-shop.example</p>
<p>본 메일은 수신에 동의하신 분께 발송되었습니다. 더 이상 수신을 원하지 않으시면
<a href="https://sample-shop.example/mail/reject?u=91ab">[수신거부]</a>를 클릭해 주세요.</p>
</body></html>
"""

JP_COMPLIANT_HTML = """
<html><body>
<p>いつもご利用いただきありがとうございます。秋の新作コレクションを公開しました。</p>
<p>送信者：株式会社サンプル商事<br>〒100-0001 東京都千代田区千代田1-1<br>
お問い合わせ：support@sample.example</p>
<p>配信停止をご希望の方は<a href="https://sample.example/mail/teishi?id=7">こちら</a>から
お手続きください。</p>
</body></html>
"""

CA_COMPLIANT_HTML = """
<html><body>
<p>Our winter boots are here, lined and waterproof. Free shipping across Canada.</p>
<p>Maple Goods Ltd., 100 King St W, Toronto, ON M5H 1A1 · info@maplegoods.example</p>
<p><a href="https://maplegoods.example/unsubscribe/3f1">Unsubscribe</a></p>
</body></html>
"""

DE_COMPLIANT_HTML = """
<html><body>
<p>Die neue Herbstkollektion ist da: warme Strickjacken und wasserfeste Stiefel.</p>
<p>Impressum: Beispiel Mode GmbH, Musterstraße 12, 10115 Berlin.
Geschäftsführer: Max Muster. Registergericht: Amtsgericht Charlottenburg, HRB 12345.</p>
<p><a href="https://beispiel.example/newsletter/abmelden?t=5">Vom Newsletter abmelden</a></p>
</body></html>
"""


def kr(subject: str = "(광고) 가을 신상품 최대 30% 할인", html: str = KR_COMPLIANT_HTML,
       send_at: datetime = KR_DAY):
    return template(subject, html, languages=("ko",), countries=("KR",), send_at=send_at)


def legal_codes(findings) -> set[str]:
    return {c for c in codes(findings) if c.startswith("LEGAL_") or c == "UNSUBSCRIBE_LINK_MISSING"}


# --- Korea ------------------------------------------------------------------------------


def test_compliant_korean_mail_has_no_legal_finding():
    assert legal_codes(assess(kr())) == set()


@pytest.mark.parametrize(
    ("subject", "found"),
    [
        ("가을 신상품 최대 30% 할인", None),
        ("[광고] 가을 신상품 최대 30% 할인", "[광고]"),
        ("（광고） 가을 신상품", "（광고）"),
        ("(광/고) 가을 신상품", "(광/고)"),
        ("가을 신상품 (광고)", "(광고)"),
        ("광고: 가을 신상품", "광고:"),
    ],
)
def test_korean_subject_must_start_with_the_exact_ad_label(subject, found):
    findings = assess(kr(subject=subject))
    [finding] = by_code(findings, "LEGAL_KR_AD_PREFIX_MISSING")
    assert finding.severity == "block"
    assert finding.countries == ("KR",)
    assert "art. 50" in (finding.law or "")
    if found:
        assert repr(found) in finding.message


def test_leading_white_space_before_the_ad_label_is_tolerated():
    assert not by_code(assess(kr(subject="  (광고) 가을 신상품")), "LEGAL_KR_AD_PREFIX_MISSING")


def test_korean_mail_without_sender_details():
    html = KR_COMPLIANT_HTML.split("<hr>", maxsplit=1)[0] + """
    <p>더 이상 수신을 원하지 않으시면 <a href="https://x.example/reject">수신거부</a></p></body></html>"""
    [finding] = by_code(assess(kr(html=html)), "LEGAL_KR_SENDER_INFO_MISSING")
    assert "sender's name" in finding.message and "contact details" in finding.message


def test_korean_mail_with_only_an_english_unsubscribe_link_lacks_the_refusal_notice():
    html = KR_COMPLIANT_HTML.replace(
        """본 메일은 수신에 동의하신 분께 발송되었습니다. 더 이상 수신을 원하지 않으시면
<a href="https://sample-shop.example/mail/reject?u=91ab">[수신거부]</a>를 클릭해 주세요.""",
        '<a href="https://sample-shop.example/unsubscribe">Unsubscribe</a>',
    )
    findings = assess(kr(html=html))
    [finding] = by_code(findings, "LEGAL_KR_OPT_OUT_MISSING")
    assert "수신거부" in finding.message
    assert not by_code(findings, "UNSUBSCRIBE_LINK_MISSING")


@pytest.mark.parametrize(
    ("hour", "minute", "night"),
    [(22, 0, True), (21, 0, True), (7, 59, True), (3, 0, True), (20, 59, False), (8, 0, False)],
)
def test_korean_night_time_rule(hour, minute, night):
    send_at = datetime(2026, 11, 23, hour, minute, tzinfo=KST)
    findings = assess(kr(send_at=send_at))
    assert bool(by_code(findings, "LEGAL_KR_NIGHT_SEND")) is night
    if night:
        [finding] = by_code(findings, "LEGAL_KR_NIGHT_SEND")
        assert f"{hour:02d}:{minute:02d} KST" in finding.message


def test_korean_night_rule_reads_the_send_time_in_seoul():
    # 13:30 UTC is 22:30 in Seoul.
    findings = assess(kr(send_at=datetime(2026, 11, 23, 13, 30, tzinfo=UTC)))
    assert by_code(findings, "LEGAL_KR_NIGHT_SEND")


def test_korean_law_does_not_apply_to_other_countries():
    parsed = template("가을 신상품", KR_COMPLIANT_HTML, languages=("ko",), countries=("US",),
                      send_at=datetime(2026, 11, 23, 13, 30, tzinfo=UTC))
    assert not {c for c in codes(assess(parsed)) if c.startswith("LEGAL_KR_")}


# --- China ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "labelled"),
    [
        ("【广告】双十一全场五折", True),
        ("广告：双十一全场五折", True),
        ("AD: Singles' Day sale", True),
        ("[AD] 双十一全场五折", True),
        ("双十一全场五折", False),
        ("ADIDAS 双十一特惠", False),
        ("双十一全场五折【广告】", False),
    ],
)
def test_chinese_subject_needs_the_ad_label(subject, labelled):
    html = '<p>双十一全场五折。</p><p><a href="https://shop.example/unsubscribe">退订</a></p>'
    parsed = template(subject, html, languages=("zh",), countries=("CN",))
    found = by_code(assess(parsed), "LEGAL_CN_AD_LABEL_MISSING")
    assert (not found) is labelled
    if found:
        assert found[0].severity == "block"


# --- Japan ------------------------------------------------------------------------------


def jp(html: str = JP_COMPLIANT_HTML):
    return template("秋の新作コレクション", html, languages=("ja",), countries=("JP",))


def test_compliant_japanese_mail_has_no_legal_finding():
    assert legal_codes(assess(jp())) == set()


def test_japanese_mail_without_address():
    html = JP_COMPLIANT_HTML.replace("〒100-0001 東京都千代田区千代田1-1<br>", "")
    [finding] = by_code(assess(jp(html)), "LEGAL_JP_SENDER_INFO_MISSING")
    assert "postal address" in finding.message
    assert "Specified E-mail Act" in (finding.law or "")


def test_japanese_mail_without_opt_out():
    html = JP_COMPLIANT_HTML.split("<p>配信停止", maxsplit=1)[0] + "</body></html>"
    findings = assess(jp(html))
    [finding] = by_code(findings, "LEGAL_JP_OPT_OUT_MISSING")
    assert "unsubscribe link" in finding.message
    assert by_code(findings, "UNSUBSCRIBE_LINK_MISSING")


# --- United States ----------------------------------------------------------------------


def us(html: str, text: str = ""):
    return template("Fall into savings", html, text, countries=("US",))


def test_compliant_us_mail_has_no_legal_finding():
    assert legal_codes(assess(us(f"<p>New arrivals are in.</p>{US_FOOTER}"))) == set()


def test_us_mail_without_postal_address():
    html = '<p>New arrivals.</p><p><a href="https://acme.example/unsubscribe">Unsubscribe</a></p>'
    [finding] = by_code(assess(us(html)), "LEGAL_US_POSTAL_ADDRESS_MISSING")
    assert finding.severity == "block"
    assert "CAN-SPAM" in (finding.law or "")


def test_us_mail_without_any_opt_out():
    html = "<p>New arrivals.</p><p>Acme Outfitters Inc., 123 Main St, Springfield, IL 62701</p>"
    findings = assess(us(html))
    assert {"LEGAL_US_OPT_OUT_MISSING", "UNSUBSCRIBE_LINK_MISSING"} <= codes(findings)
    assert not by_code(findings, "LEGAL_US_POSTAL_ADDRESS_MISSING")


def test_reply_to_unsubscribe_satisfies_can_spam_but_not_the_link_rule():
    html = ("<p>New arrivals.</p><p>Acme Outfitters Inc., PO Box 4411, Austin, TX 78765</p>"
            "<p>To unsubscribe, reply to this email with the word UNSUBSCRIBE.</p>")
    findings = assess(us(html))
    assert not by_code(findings, "LEGAL_US_OPT_OUT_MISSING")
    assert not by_code(findings, "LEGAL_US_POSTAL_ADDRESS_MISSING")
    assert by_code(findings, "UNSUBSCRIBE_LINK_MISSING")


@pytest.mark.parametrize(
    "footer",
    [
        "Unsubscribe: https://acme.example/u/5c1e",
        "To stop receiving these emails, visit https://acme.example/p?id=9",
        "Opt out at www.acme.example/optout",
    ],
)
def test_unsubscribe_link_in_the_text_part(footer):
    text = f"New arrivals.\nAcme Outfitters Inc., 123 Main St, Springfield, IL 62701\n{footer}\n"
    parsed = template("Fall into savings", "", text, countries=("US",))
    assert legal_codes(assess(parsed)) == set()


@pytest.mark.parametrize(
    "href", ["*|UNSUB|*", "{{ unsubscribe_url }}", "<%asm_group_unsubscribe_raw_url%>",
             "https://x.example/email-preferences", "mailto:leave@x.example?subject=unsubscribe"],
)
def test_esp_merge_tags_count_as_unsubscribe_links(href):
    html = f'<p>New.</p><p><a href="{href}">Manage</a></p>'
    assert not by_code(assess(us(html)), "UNSUBSCRIBE_LINK_MISSING")


def test_a_link_that_merely_mentions_products_is_not_an_unsubscribe_link():
    html = ('<p>New arrivals.</p><p><a href="https://acme.example/shop">Shop now</a> '
            '<a href="https://acme.example/sub/jackets">Subcategory: jackets</a></p>')
    assert by_code(assess(us(html)), "UNSUBSCRIBE_LINK_MISSING")


# --- Canada -----------------------------------------------------------------------------


def test_compliant_canadian_mail_has_no_legal_finding():
    parsed = template("Winter boots", CA_COMPLIANT_HTML, countries=("CA",))
    assert legal_codes(assess(parsed)) == set()


def test_canadian_mail_without_mailing_address():
    html = CA_COMPLIANT_HTML.replace("100 King St W, Toronto, ON M5H 1A1 · ", "")
    [finding] = by_code(assess(template("Winter boots", html, countries=("CA",))),
                        "LEGAL_CA_IDENTIFICATION_MISSING")
    assert "postal address" in finding.message
    assert "CASL" in (finding.law or "")


def test_canadian_mail_without_unsubscribe():
    html = CA_COMPLIANT_HTML.split("<p><a", maxsplit=1)[0] + "</body></html>"
    findings = assess(template("Winter boots", html, countries=("CA",)))
    assert {"LEGAL_CA_UNSUBSCRIBE_MISSING", "UNSUBSCRIBE_LINK_MISSING"} <= codes(findings)
    assert not by_code(findings, "LEGAL_CA_IDENTIFICATION_MISSING")


# --- EU / EEA and the UK ----------------------------------------------------------------


def test_compliant_german_mail_has_no_legal_finding():
    parsed = template("Herbstkollektion", DE_COMPLIANT_HTML, languages=("de",),
                      countries=("DE", "AT"))
    assert legal_codes(assess(parsed)) == set()


def test_anonymous_mail_to_the_eu_and_the_uk():
    html = ('<p>Die neue Herbstkollektion ist da.</p>'
            '<p><a href="https://x.example/abmelden">Abmelden</a></p>')
    parsed = template("Herbst", html, languages=("de",), countries=("DE", "NO", "GB", "US"))
    findings = assess(parsed)
    found = by_code(findings, "LEGAL_EU_SENDER_IDENTIFICATION_MISSING")
    assert {f.countries for f in found} == {("DE", "NO"), ("GB",)}
    assert {f.law for f in found} == {
        "EU ePrivacy Directive art. 13(4); e-Commerce Directive art. 6(a)", "UK PECR reg. 23"}
    assert all(f.severity == "block" for f in found)


def test_unsubscribe_link_applies_without_target_countries():
    findings = assess(template("Hello", "<p>Hello</p>", countries=()))
    [finding] = by_code(findings, "UNSUBSCRIBE_LINK_MISSING")
    assert finding.severity == "block"


# --- element detection --------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "Acme Inc., 123 Main St, Springfield, IL 62701",
        "Acme Inc. · 1600 Amphitheatre Parkway · Mountain View, CA 94043-1351",
        "Acme Inc., P.O. Box 4411, Austin, TX 78765",
        "Maple Goods, 100 King St W, Toronto, ON M5H 1A1",
        "Tea Ltd, 221B Baker Street, London NW1 6XE",
        "Beispiel GmbH, Musterstraße 12, 10115 Berlin",
        "Beispiel GmbH, Hauptstr. 5a, 80331 München",
        "Exemple SAS, 12 rue de la Paix, 75002 Paris",
        "Ejemplo S.L., Calle Mayor 12, 28013 Madrid",
        "Voorbeeld B.V., Keizersgracht 123, 1015 CJ Amsterdam",
        "〒100-0001 東京都千代田区千代田1-1",
        "東京都渋谷区神南1丁目2番3号",
        "서울특별시 강남구 테헤란로 123",
        "경기도 성남시 분당구 판교역로 235",
        "上海市浦东新区世纪大道100号",
        "ООО «Пример», ул. Тверская, д. 7, Москва",
    ],
)
def test_postal_addresses_are_recognised(address):
    html = f'<p>News.</p><p>{address}</p><p><a href="https://x.example/unsubscribe">x</a></p>'
    assert not by_code(assess(us(html)), "LEGAL_US_POSTAL_ADDRESS_MISSING")


def test_address_run_into_the_next_inline_element_is_recognised():
    # Visible text joins inline elements without a space: "...IL 62701Unsubscribe".
    html = ('<p>New.</p><p>Acme Inc., 123 Main St, Springfield, IL 62701</p>'
            '<a href="https://a.example/unsubscribe">Unsubscribe</a>')
    joined = "New.\nAcme Inc., 123 Main St, Springfield, IL 62701Unsubscribe"
    parsed = dataclasses.replace(us(html), visible_text=joined)
    assert not by_code(assess(parsed), "LEGAL_US_POSTAL_ADDRESS_MISSING")
    joined = "Maple Goods Ltd., 100 King St W, Toronto, ON M5H 1A1Unsubscribe info@maple.example"
    canadian = dataclasses.replace(parsed, countries=("CA",), visible_text=joined)
    assert not by_code(assess(canadian), "LEGAL_CA_IDENTIFICATION_MISSING")


@pytest.mark.parametrize(
    "not_an_address",
    [
        "Call 555 1234 today",
        "Order 12345 has shipped",
        "Save 20% on 3 items until 31 Dec",
        "Join 10000 happy customers in 50 states",
        "Our store on Main Street is open",
        "Room 12, weg mit den Preisen!",
    ],
)
def test_look_alikes_are_not_postal_addresses(not_an_address):
    html = (f'<p>{not_an_address}</p>'
            '<p><a href="https://x.example/unsubscribe">Unsubscribe</a></p>')
    assert by_code(assess(us(html)), "LEGAL_US_POSTAL_ADDRESS_MISSING")


# --- the jurisdiction files ---------------------------------------------------------------


def test_every_documented_code_is_defined():
    defined = {r.code for j in jurisdictions() for r in j.requirements}
    assert defined == {
        "LEGAL_KR_AD_PREFIX_MISSING", "LEGAL_KR_SENDER_INFO_MISSING", "LEGAL_KR_OPT_OUT_MISSING",
        "LEGAL_KR_NIGHT_SEND", "LEGAL_CN_AD_LABEL_MISSING", "LEGAL_JP_SENDER_INFO_MISSING",
        "LEGAL_JP_OPT_OUT_MISSING", "LEGAL_US_POSTAL_ADDRESS_MISSING", "LEGAL_US_OPT_OUT_MISSING",
        "LEGAL_CA_IDENTIFICATION_MISSING", "LEGAL_CA_UNSUBSCRIBE_MISSING",
        "LEGAL_EU_SENDER_IDENTIFICATION_MISSING", "UNSUBSCRIBE_LINK_MISSING",
    }
    assert all(r.severity == "block" for j in jurisdictions() for r in j.requirements)


@pytest.fixture
def jurisdictions_copy(tmp_path: Path) -> Path:
    target = tmp_path / "jurisdictions"
    shutil.copytree(JURISDICTIONS_DIR, target)
    return target


@pytest.mark.parametrize(
    ("find", "replace", "expected"),
    [
        ("    check: subject_prefix\n", "    check: subject_prefix\n    weight: 3\n",
         r"kr\.yaml: rule 'LEGAL_KR_AD_PREFIX_MISSING': unknown keys .*weight"),
        ('pattern: "\\\\(광고\\\\)"', 'pattern: "(광고"',
         r"kr\.yaml: rule 'LEGAL_KR_AD_PREFIX_MISSING' pattern: bad regular expression"),
        ("all_of: [opt_out_notice_ko, unsubscribe_link]", "all_of: [opt_out_notice]",
         r"kr\.yaml: rule 'LEGAL_KR_OPT_OUT_MISSING': unknown element 'opt_out_notice'"),
        ("    severity: block\n    message: The subject",
         "    severity: fatal\n    message: The subject",
         r"kr\.yaml: rule 'LEGAL_KR_AD_PREFIX_MISSING': severity"),
        ("timezone: Asia/Seoul", "timezone: Asia/Sóul",
         r"kr\.yaml: rule 'LEGAL_KR_NIGHT_SEND': unknown time zone"),
        ('quiet_start: "21:00"', 'quiet_start: "9pm"',
         r"kr\.yaml: rule 'LEGAL_KR_NIGHT_SEND' quiet_start"),
        ("countries: [KR]", "countries: [Korea]", r"kr\.yaml: countries"),
        ("id: KR\n", "id: KR\nlanguage: ko\n", r"kr\.yaml: top level: unknown keys"),
    ],
)
def test_malformed_jurisdiction_files_are_refused(jurisdictions_copy, find, replace, expected):
    path = jurisdictions_copy / "kr.yaml"
    source = path.read_text(encoding="utf-8")
    assert find in source
    path.write_text(source.replace(find, replace, 1), encoding="utf-8")
    with pytest.raises(DataFileError, match=expected):
        load_jurisdictions(jurisdictions_copy)


def test_malformed_shared_element_is_refused(jurisdictions_copy):
    path = jurisdictions_copy / "_elements.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('"unsub"', '"unsub["', 1),
                    encoding="utf-8")
    with pytest.raises(DataFileError, match=r"_elements\.yaml: element 'unsubscribe_link'"):
        load_jurisdictions(jurisdictions_copy)


def test_duplicate_jurisdiction_ids_are_refused(jurisdictions_copy):
    shutil.copy(jurisdictions_copy / "kr.yaml", jurisdictions_copy / "kr_copy.yaml")
    with pytest.raises(DataFileError, match="duplicate jurisdiction id"):
        load_jurisdictions(jurisdictions_copy)
