"""Regional fit: holidays, language, currency and local send time per target country."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rules._datafile import DataFileError
from rules._occasions import OCCASIONS_FILE, _load_catalogue, catalogue
from rules.model import ParsedTemplate
from rules.regional import UnknownCountryError, assess, validate_countries
from tests.rules.regional_templates import US_FOOTER, by_code, codes, template

KST = ZoneInfo("Asia/Seoul")
NOON_UTC = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # day time in Europe and Asia alike

THANKSGIVING_HTML = f"""
<html><body>
<h1>Happy Thanksgiving from all of us!</h1>
<p>Gather round the table: our harvest collection of table linen, candles and serving
bowls is 25% off until Sunday. Free shipping on every order this Thanksgiving weekend.</p>
{US_FOOTER}
</body></html>
"""


def single(findings, code):
    matches = by_code(findings, code)
    assert len(matches) == 1, findings
    return matches[0]


# --- holidays and occasions -------------------------------------------------------------


def test_thanksgiving_to_europe_names_the_european_countries_only():
    parsed = template("Thanksgiving: 25% off table linen", THANKSGIVING_HTML,
                      countries=("US", "DE", "FR"), send_at=NOON_UTC)
    finding = single(assess(parsed), "REGION_HOLIDAY_NOT_OBSERVED")
    assert finding.countries == ("DE", "FR")
    assert finding.severity == "warn"
    assert "Thanksgiving" in finding.message


def test_thanksgiving_to_the_us_alone_is_fine():
    parsed = template("Thanksgiving: 25% off table linen", THANKSGIVING_HTML,
                      countries=("US",), send_at=NOON_UTC)
    assert not by_code(assess(parsed), "REGION_HOLIDAY_NOT_OBSERVED")


def test_us_thanksgiving_timing_is_wrong_for_canada():
    parsed = template("Thanksgiving: 25% off table linen", THANKSGIVING_HTML,
                      countries=("US", "CA"), send_at=NOON_UTC)
    findings = assess(parsed)
    assert not by_code(findings, "REGION_HOLIDAY_NOT_OBSERVED")
    mismatch = single(findings, "REGION_HOLIDAY_DATE_MISMATCH")
    assert mismatch.countries == ("CA",)
    assert "2026-11-26" in mismatch.message  # the US date the mail is timed for


def test_mothers_day_in_may_is_too_late_for_the_uk():
    html = """<p>Mother’s Day is Sunday 9 May: order her flowers by Thursday for guaranteed
    delivery.</p>""" + US_FOOTER
    parsed = template("Mother’s Day flowers, delivered", html, countries=("US", "GB"),
                      send_at=datetime(2027, 5, 1, 14, 0, tzinfo=UTC))
    findings = assess(parsed)
    assert not by_code(findings, "REGION_HOLIDAY_NOT_OBSERVED")
    mismatch = single(findings, "REGION_HOLIDAY_DATE_MISMATCH")
    assert mismatch.countries == ("GB",)
    assert "2027-05-09" in mismatch.message


def test_mothers_day_on_each_local_date_is_fine():
    parsed = template("Muttertag: Blumen für Mama", "<p>Am Sonntag ist Muttertag.</p>",
                      languages=("de",), countries=("DE", "AT"),
                      send_at=datetime(2027, 5, 3, 9, 0, tzinfo=UTC))
    findings = assess(parsed)
    assert not by_code(findings, "REGION_HOLIDAY_DATE_MISMATCH")
    assert not by_code(findings, "REGION_HOLIDAY_NOT_OBSERVED")


@pytest.mark.parametrize(
    ("subject", "language", "observed", "not_observed"),
    [
        ("双十一全场五折，仅限今天", "zh", "CN", "DE"),
        ("光棍节特惠", "zh", "SG", "FR"),
        ("추석 선물세트 특가", "ko", "KR", "JP"),
        ("설날 연휴 배송 안내", "ko", "KR", "US"),
        ("ゴールデンウィーク限定セール", "ja", "JP", "US"),
        ("お盆休みのお知らせ", "ja", "JP", "KR"),
        ("Lunar New Year gift boxes", "en", "VN", "FR"),
        ("Diwali sale: lights and sweets", "en", "IN", "JP"),
        ("Eid Mubarak! Gifts for the whole family", "en", "AE", "JP"),
        ("Ramadan Kareem: iftar boxes delivered", "en", "ID", "KR"),
        ("Happy Hanukkah: eight nights of gifts", "en", "IL", "BR"),
        ("Valentine's Day roses", "en", "FR", "BR"),
        ("Halloween costumes 2 for 1", "en", "IE", "CN"),
        ("Boxing Day sale starts now", "en", "GB", "US"),
        ("Black Friday: everything half price", "en", "DE", "CN"),
        ("Cyber Monday deals", "en", "US", "CN"),
        ("Fourth of July BBQ sale", "en", "US", "GB"),
        ("Bastille Day: French wines", "en", "FR", "DE"),
        ("Easter egg hunt kits", "en", "GB", "JP"),
        ("Christmas gift guide", "en", "JP", "SA"),
        ("Рождественская распродажа", "ru", "RU", "SA"),
        ("Soldes de Noël", "fr", "FR", "SA"),
        ("Chuseok gift sets", "en", "KR", "DE"),
    ],
)
def test_occasions_observed_or_not(subject, language, observed, not_observed):
    parsed = template(subject, f"<p>{subject}</p>{US_FOOTER}", languages=(language,),
                      countries=(observed, not_observed), send_at=NOON_UTC)
    finding = single(assess(parsed), "REGION_HOLIDAY_NOT_OBSERVED")
    assert finding.countries == (not_observed,)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Happy Thanksgiving! 25% off all pies."),
        ("de", "Zum Thanksgiving: 25 % auf alle Kuchen."),
        ("fr", "Joyeuse Action de grâce : -25 % sur les tartes."),
        ("es", "¡Feliz Día de Acción de Gracias! 25 % en tartas."),
        ("ru", "С Днём благодарения! Скидка 25% на пироги."),
        ("zh", "感恩节快乐！全场派七五折。"),
        ("ja", "感謝祭セール：パイが25%オフ"),
        ("ko", "추수감사절 특가: 파이 25% 할인"),
    ],
)
def test_thanksgiving_is_recognised_in_eight_languages(language, text):
    parsed = template(text, f"<p>{text}</p>", languages=(language,), countries=("US", "GB"))
    finding = single(assess(parsed), "REGION_HOLIDAY_NOT_OBSERVED")
    assert finding.countries == ("GB",)
    assert "Thanksgiving" in finding.message


@pytest.mark.parametrize(
    ("language", "text", "label"),
    [
        ("en", "Black Friday starts now", "Black Friday"),
        ("de", "Black-Friday-Angebote: nur heute", "Black Friday"),
        ("fr", "Offres du Vendredi noir", "Black Friday"),
        ("es", "Ofertas de Viernes Negro", "Black Friday"),
        ("ru", "Скидки в Чёрную пятницу", "Black Friday"),
        ("ja", "ブラックフライデーセール開催中", "Black Friday"),
        ("ko", "블랙 프라이데이 특가", "Black Friday"),
        ("en", "Merry Xmas and a happy new year", "Christmas"),
        ("de", "Frohe Weihnachten! Geschenkideen", "Christmas"),
        ("es", "Regalos de Navidad", "Christmas"),
        ("zh", "圣诞节礼物精选", "Christmas"),
        ("ja", "クリスマスギフト特集", "Christmas"),
        ("ko", "크리스마스 선물 추천", "Christmas"),
        ("fr", "Fête des mères : offrez des fleurs", "Mother's Day"),
        ("es", "Regalos para el Día de la Madre", "Mother's Day"),
        ("ru", "Подарки ко Дню матери", "Mother's Day"),
        ("zh", "母亲节快乐", "Mother's Day"),
        ("ja", "母の日ギフト", "Mother's Day"),
    ],
)
def test_occasion_names_in_many_languages(language, text, label):
    mentioned = catalogue().mentioned(text)
    assert [catalogue().occasions[o].label for o in mentioned] == [label]


def test_ordinary_words_are_not_occasions():
    html = """<p>Our eastern warehouse ships daily; the tetra packs and aid kits are back in
    stock. We want (원하는) the best for you. Golden retriever toys, Boxing gloves.</p>"""
    parsed = template("New stock in the eastern warehouse", html + US_FOOTER,
                      countries=("US", "DE", "JP"), send_at=NOON_UTC)
    assert not by_code(assess(parsed), "REGION_HOLIDAY_NOT_OBSERVED")


def test_occasion_catalogue_rejects_a_bad_pattern(tmp_path: Path):
    bad = tmp_path / "occasions.yaml"
    bad.write_text(OCCASIONS_FILE.read_text(encoding="utf-8").replace(
        '["Thanksgiving"]', '["Thanksgiving("]', 1), encoding="utf-8")
    with pytest.raises(DataFileError, match="thanksgiving"):
        _load_catalogue(bad)


def test_occasion_catalogue_rejects_unquoted_norway(tmp_path: Path):
    bad = tmp_path / "occasions.yaml"
    source = OCCASIONS_FILE.read_text(encoding="utf-8")
    bad.write_text(source.replace('"NO"', "NO"), encoding="utf-8")
    with pytest.raises(DataFileError, match="ISO 3166-1"):
        _load_catalogue(bad)


# --- language ---------------------------------------------------------------------------


def test_english_mail_to_germany_is_a_language_mismatch():
    parsed = template("Autumn sale", f"<p>Our autumn sale starts today.</p>{US_FOOTER}",
                      countries=("US", "DE", "IN"), send_at=NOON_UTC)
    finding = single(assess(parsed), "REGION_LANGUAGE_MISMATCH")
    assert finding.countries == ("DE",)


@pytest.mark.parametrize(
    ("language", "countries"),
    [("de", ("DE", "AT", "CH")), ("fr", ("FR", "BE", "CA", "CH")), ("zh", ("CN", "TW", "SG")),
     ("es", ("ES", "MX")), ("ko", ("KR",)), ("ja", ("JP",)), ("ru", ("RU", "KZ")),
     ("ca", ("ES",))],
)
def test_local_language_is_no_mismatch(language, countries):
    parsed = template("x", "<p>x</p>", languages=(language,), countries=countries)
    assert not by_code(assess(parsed), "REGION_LANGUAGE_MISMATCH")


def test_undetected_language_is_reported_not_passed():
    parsed = template("🎉🎉🎉", "<p>🎉</p>", languages=(), countries=("DE",))
    finding = single(assess(parsed), "REGION_LANGUAGE_UNDETECTED")
    assert finding.severity == "info"


# --- currency ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "fits", "does_not_fit"),
    [
        ("only $49.99", ("US", "CA", "AU"), ("DE", "JP")),
        ("ab 19,99 €", ("DE", "FR", "IE"), ("GB", "US")),
        ("£25 off", ("GB",), ("IE",)),
        ("¥3,000 から", ("JP", "CN"), ("KR",)),
        ("3,000円", ("JP",), ("CN",)),
        ("5만원 할인", ("KR",), ("JP",)),
        ("₩50,000", ("KR",), ("CN",)),
        ("仅需99元", ("CN", "TW"), ("JP",)),
        ("1 500 ₽", ("RU",), ("UA",)),
        ("990 руб.", ("RU", "BY"), ("KZ",)),
        ("R$ 199,90", ("BR",), ("US", "PT")),
        ("CHF 29.90", ("CH", "LI"), ("DE",)),
        ("from 20 USD", ("US", "EC"), ("CA",)),
        ("US$ 20", ("US",), ("CA", "AU")),
    ],
)
def test_currency_fit(price, fits, does_not_fit):
    parsed = template("Offer", f"<p>New arrivals {price}.</p>", languages=(),
                      countries=fits + does_not_fit)
    finding = single(assess(parsed), "REGION_CURRENCY_MISMATCH")
    assert finding.countries == does_not_fit


def test_prices_in_several_currencies_fit_each_country():
    parsed = template("Offer", "<p>Jacket €89 / £79 / $99</p>", countries=("DE", "GB", "US"))
    assert not by_code(assess(parsed), "REGION_CURRENCY_MISMATCH")


def test_text_without_amounts_has_no_currency():
    html = ("<p>원하는 상품을 찾아보세요. ALLOW 5 days for delivery; order SKU AB123; "
            "Call 555-1234. The $ sign and the € sign.</p>")
    parsed = template("x", html, countries=("KR", "US", "DE"))
    assert not by_code(assess(parsed), "REGION_CURRENCY_MISMATCH")


# --- local send time --------------------------------------------------------------------


def test_send_at_night_in_korea():
    parsed = template("Sale", "<p>Sale</p>", countries=("KR", "DE"),
                      send_at=datetime(2026, 11, 23, 22, 0, tzinfo=KST))
    finding = single(assess(parsed), "REGION_SEND_TIME_NIGHT")
    assert finding.countries == ("KR",)
    assert "Asia/Seoul 22:00" in finding.message


def test_us_send_reports_the_zones_still_at_night():
    # 09:00 in New York is 06:00 in Los Angeles.
    parsed = template("Sale", "<p>Sale</p>", countries=("US",),
                      send_at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    finding = single(assess(parsed), "REGION_SEND_TIME_NIGHT")
    assert "America/Los_Angeles 06:00" in finding.message
    assert "America/New_York" not in finding.message


def test_day_time_send_everywhere_is_fine():
    parsed = template("Sale", "<p>Sale</p>", countries=("DE", "FR", "GB"),
                      send_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert not by_code(assess(parsed), "REGION_SEND_TIME_NIGHT")


def test_naive_send_time_is_reported_not_guessed():
    parsed = template("Sale", "<p>Sale</p>", countries=("DE",),
                      send_at=datetime(2026, 11, 23, 3, 0))
    findings = assess(parsed)
    assert single(findings, "REGION_SEND_TIME_NO_TIMEZONE").severity == "info"
    assert not by_code(findings, "REGION_SEND_TIME_NIGHT")


# --- countries and odd input ------------------------------------------------------------


def test_validate_countries_normalises():
    assert validate_countries([" de", "DE", "fr", "XK"]) == ("DE", "FR", "XK")


def test_validate_countries_names_every_bad_code_with_a_hint():
    with pytest.raises(UnknownCountryError) as caught:
        validate_countries(["DE", "UK", "ZZ", "EU", "12"])
    assert caught.value.codes == ("UK", "ZZ", "EU", "12")
    assert "'GB'" in str(caught.value)


def test_unknown_countries_are_skipped_with_an_info_finding():
    parsed = template("Thanksgiving sale", THANKSGIVING_HTML, countries=("XX", "US", "uk"),
                      send_at=NOON_UTC)
    findings = assess(parsed)
    finding = single(findings, "REGION_UNKNOWN_COUNTRY")
    assert finding.severity == "info"
    assert "'XX'" in finding.message and "'uk'" in finding.message
    assert not by_code(findings, "REGION_HOLIDAY_NOT_OBSERVED")


@pytest.mark.parametrize(
    "parsed",
    [
        template("", "", countries=("DE",)),
        template("x", "<html><body></body></html>", countries=("KR", "CN", "JP", "US", "CA")),
        template("x", "<p>unclosed <a href='", text="\x00\ufffd", countries=("us", "", " ")),
        template("x" * 10_000, "<p>" + "€€€ 5 " * 5_000 + "</p>", languages=("xx",),
                 countries=("DE",), send_at=datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_odd_input_does_not_raise(parsed):
    assert isinstance(assess(parsed), list)


def test_missing_fields_and_a_non_datetime_send_time_do_not_raise():
    parsed = ParsedTemplate(subject=None, html=None, text=None, visible_text=None,  # type: ignore[arg-type]
                            languages=(None,), countries=("DE",), send_at="tomorrow")  # type: ignore[arg-type]
    findings = assess(parsed)
    assert single(findings, "REGION_SEND_TIME_OUT_OF_RANGE").severity == "info"
    assert by_code(findings, "REGION_LANGUAGE_UNDETECTED")


@pytest.mark.parametrize("send_at", [datetime(1, 1, 1, tzinfo=UTC),
                                     datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
def test_send_time_at_the_ends_of_the_calendar_is_ignored_with_a_note(send_at):
    parsed = template("(광고) Christmas, Mother's Day and Thanksgiving", THANKSGIVING_HTML,
                      countries=("US", "GB", "KR"), send_at=send_at)
    findings = assess(parsed)
    assert single(findings, "REGION_SEND_TIME_OUT_OF_RANGE").severity == "info"
    assert not codes(findings) & {"REGION_SEND_TIME_NIGHT", "LEGAL_KR_NIGHT_SEND",
                                  "REGION_HOLIDAY_DATE_MISMATCH"}
    assert by_code(findings, "REGION_HOLIDAY_NOT_OBSERVED")


def test_no_countries_means_no_regional_checks():
    parsed = template("Thanksgiving: $10 off", THANKSGIVING_HTML, countries=(),
                      send_at=datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    assert not {c for c in codes(assess(parsed)) if c.startswith("REGION_")}
