"""Structural checks: each one hits on its own fault, explained and located.

A clean newsletter scores no structural hit; each test adds one fault and
checks the hit's part and that its span points at the fault in the source.
"""

from __future__ import annotations

import pytest

import rules
from rules import Hit, ScoreResult, TemplateInput

SUBJECT = "Spring planting guide from the Greenleaf garden shop"
PARAGRAPHS = [
    "Spring has arrived in the nursery, and the first seedlings of tomatoes, peppers and "
    "basil are ready for your windowsill. Our gardeners wrote a short guide on when to plant "
    "them out, how to harden them off, and which companions keep pests away.",
    "This month we also visit a community orchard in Leeds that grafts old apple varieties, "
    "and we answer your questions about watering pots during the first warm weeks of the "
    "season. Members can book a free pruning workshop at the shop on Saturday mornings.",
]
FOOTER_TEXT = "Greenleaf Garden Shop, 12 Market Street, Springfield, IL 62701"


def clean_html(*, body_extra: str = "", title: str = SUBJECT, head_extra: str = "") -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head_extra}</head><body>"
        f"<h1>Spring planting guide</h1>{paragraphs}{body_extra}"
        f'<p><a href="https://greenleaf.example/guide">Read the planting guide</a></p>'
        f"<p>{FOOTER_TEXT}</p>"
        f'<p><a href="https://greenleaf.example/unsubscribe?u=1">Unsubscribe</a></p>'
        "</body></html>"
    )


def clean_text() -> str:
    return "\n\n".join(
        [
            "Spring planting guide",
            *PARAGRAPHS,
            "Read the planting guide: https://greenleaf.example/guide",
            FOOTER_TEXT,
            "Unsubscribe: https://greenleaf.example/unsubscribe?u=1",
        ]
    )


def template(**overrides: object) -> TemplateInput:
    values: dict[str, object] = {"subject": SUBJECT, "html": clean_html(), "text": clean_text()}
    values.update(overrides)
    return TemplateInput(**values)  # type: ignore[arg-type]


def find(result: ScoreResult, rule: str) -> Hit:
    matching = [hit for hit in result.hits if hit.rule == rule]
    assert matching, f"{rule} not hit; hits: {[h.rule for h in result.hits]}"
    return matching[0]


def located(hit: Hit, source: str) -> str:
    assert hit.location is not None
    assert hit.location.start is not None and hit.location.end is not None
    return source[hit.location.start : hit.location.end]


def test_clean_newsletter_has_no_hits_and_passes(scorer: rules.Scorer) -> None:
    result = scorer.score(template())
    assert result.hits == ()
    assert result.verdict == "pass"
    assert result.language == "en"
    assert result.unchecked == ()


def test_every_hit_is_explained(scorer: rules.Scorer) -> None:
    result = scorer.score(TemplateInput(subject="", html="<p><img src=x.png></p>"))
    assert result.hits
    for hit in result.hits:
        assert hit.message and hit.remediation and hit.evidence and hit.location is not None


def test_short_text(scorer: rules.Scorer) -> None:
    html = "<html><body><p>Our shop is open again. <a href='https://x.example/unsubscribe'>Unsubscribe</a></p></body></html>"
    hit = find(scorer.score(template(html=html, text=None)), "BODY_TEXT_TOO_SHORT")
    assert hit.location == rules.Location("html")
    assert "characters of visible text" in hit.evidence


def test_image_only_locates_the_first_image(scorer: rules.Scorer) -> None:
    html = (
        '<html><body><a href="https://x.example">'
        '<img src="https://x.example/offer.jpg" width="600"></a></body></html>'
    )
    result = scorer.score(template(html=html, text=None))
    assert (
        located(find(result, "HTML_IMAGE_ONLY"), html)
        == '<img src="https://x.example/offer.jpg" width="600">'
    )


def test_low_text_to_image_ratio(scorer: rules.Scorer) -> None:
    images = "".join(f'<img src="https://x.example/{i}.jpg">' for i in range(8))
    html = (
        "<html><body><p>Look at our new spring range in the shop today, with seedlings, "
        f"bulbs, tools and gloves for every kind of garden.</p>{images}</body></html>"
    )
    assert find(
        scorer.score(template(html=html)), "HTML_LOW_TEXT_IMAGE_RATIO"
    ).location == rules.Location("html")


def test_missing_text_part(scorer: rules.Scorer) -> None:
    hit = find(scorer.score(template(text=None)), "MISSING_TEXT_PART")
    assert hit.location == rules.Location("text")


def test_text_part_that_says_something_else(scorer: rules.Scorer) -> None:
    text = (
        "Cheap watches and designer handbags shipped from our warehouse overnight. "
        "Order any model by reply and pay on delivery, stock changes every hour."
    ) * 3
    hit = find(scorer.score(template(text=text)), "TEXT_HTML_PARTS_DIFFER")
    assert hit.location == rules.Location("text")


def test_hidden_text_beyond_a_preheader(scorer: rules.Scorer) -> None:
    preheader = '<div style="display:none;max-height:0;overflow:hidden">Seedlings are ready</div>'
    assert "HTML_HIDDEN_TEXT" not in {
        h.rule for h in scorer.score(template(html=clean_html(body_extra=preheader))).hits
    }
    stuffing = "lorem ipsum dolor " * 20
    html = clean_html(body_extra=preheader + f'<div style="visibility: hidden">{stuffing}</div>')
    hit = find(scorer.score(template(html=html)), "HTML_HIDDEN_TEXT")
    assert located(hit, html) == stuffing
    assert "visibility:hidden" in hit.evidence


def test_tiny_text(scorer: rules.Scorer) -> None:
    html = clean_html(body_extra='<p>Thanks <span style="font-size:1px">viagra casino</span></p>')
    assert (
        located(find(scorer.score(template(html=html)), "HTML_TINY_TEXT"), html) == "viagra casino"
    )


def test_text_in_background_colour(scorer: rules.Scorer) -> None:
    html = clean_html(
        body_extra='<table bgcolor="#FFFFFF"><tr><td><font color="#fefefe">'
        "cheap meds online</font></td></tr></table>"
    )
    assert (
        located(find(scorer.score(template(html=html)), "HTML_LOW_CONTRAST_TEXT"), html)
        == "cheap meds online"
    )


STUFFING = "cheap meds online casino bonus " * 8


@pytest.mark.parametrize(
    ("sheet", "markup", "rule"),
    [
        (".x{display:none}", '<div class="x">{}</div>', "HTML_HIDDEN_TEXT"),
        (
            "div.box > span{visibility:hidden}",
            '<div class="box"><span>{}</span></div>',
            "HTML_HIDDEN_TEXT",
        ),
        ("#legal{font-size:1px}", '<p id="legal">{}</p>', "HTML_TINY_TEXT"),
        (
            ".w{color:#fff} .bg{background:#ffffff}",
            '<table class="bg"><tr><td class="w">{}</td></tr></table>',
            "HTML_LOW_CONTRAST_TEXT",
        ),
        # The sheet's !important beats the inline style.
        (
            ".x{display:none!important}",
            '<div class="x" style="display:block">{}</div>',
            "HTML_HIDDEN_TEXT",
        ),
        # Higher specificity wins over source order.
        (
            "#a.x{display:none} .x{display:block}",
            '<div id="a" class="x">{}</div>',
            "HTML_HIDDEN_TEXT",
        ),
    ],
)
def test_text_hidden_by_a_style_sheet(
    scorer: rules.Scorer, sheet: str, markup: str, rule: str
) -> None:
    html = clean_html(
        head_extra=f"<style>/* layout */ body{{margin:0}} {sheet}</style>",
        body_extra=markup.replace("{}", STUFFING),
    )
    hit = find(scorer.score(template(html=html)), rule)
    assert located(hit, html) == STUFFING


@pytest.mark.parametrize(
    ("sheet", "markup"),
    [
        # Rules for small screens or dark mode hide nothing from everyone.
        (
            "@media only screen and (max-width:480px){.desktop{display:none}}",
            '<p class="desktop">{}</p>',
        ),
        (
            "@media (prefers-color-scheme: dark){.t{color:#111}}",
            '<div style="background:#111"><p class="t" style="color:#eee">{}</p></div>',
        ),
        # The inline style overrides a normal sheet rule.
        (".x{display:none}", '<div class="x" style="display:block">{}</div>'),
        # Later rule of equal specificity wins.
        (".x{display:none} .x{display:block}", '<div class="x">{}</div>'),
        # Pseudo-elements and states do not hide the element's own text.
        (".x::before{display:none} .x:hover{color:#fff}", '<p class="x">{}</p>'),
        # Selectors a client adds classes for (Outlook dark mode, Gmail) match nothing here.
        ("[data-ogsc] .x{display:none} u + .body .x{display:none}", '<p class="x">{}</p>'),
        # Broken CSS is ignored, not fatal.
        ("p { color: ; } }}} .x{{display:none", '<p class="y">{}</p>'),
    ],
)
def test_style_sheet_rules_that_hide_nothing(scorer: rules.Scorer, sheet: str, markup: str) -> None:
    html = clean_html(
        head_extra=f"<style>{sheet}</style>", body_extra=markup.replace("{}", STUFFING)
    )
    hits = {h.rule for h in scorer.score(template(html=html)).hits}
    assert not hits & {"HTML_HIDDEN_TEXT", "HTML_TINY_TEXT", "HTML_LOW_CONTRAST_TEXT"}


def test_link_text_showing_another_domain(scorer: rules.Scorer) -> None:
    tag = '<a href="https://login.evil.example/paypal">'
    html = clean_html(body_extra=f"<p>{tag}www.paypal.com</a></p>")
    hit = find(scorer.score(template(html=html)), "LINK_TEXT_DOMAIN_MISMATCH")
    assert located(hit, html) == tag
    assert "paypal.com" in hit.evidence and "login.evil.example" in hit.evidence


def test_same_site_link_text_is_not_a_mismatch(scorer: rules.Scorer) -> None:
    html = clean_html(
        body_extra='<p><a href="https://shop.greenleaf.example/x">www.greenleaf.example</a></p>'
    )
    assert "LINK_TEXT_DOMAIN_MISMATCH" not in {
        h.rule for h in scorer.score(template(html=html)).hits
    }


def test_link_to_raw_ip(scorer: rules.Scorer) -> None:
    tag = '<a href="http://203.0.113.7/offer">'
    html = clean_html(body_extra=f"<p>{tag}See the offer</a></p>")
    assert located(find(scorer.score(template(html=html)), "LINK_TO_IP_ADDRESS"), html) == tag


def test_javascript_link(scorer: rules.Scorer) -> None:
    tag = "<a href=\"javascript:alert('x')\">"
    html = clean_html(body_extra=f"<p>{tag}Open</a></p>")
    assert located(find(scorer.score(template(html=html)), "JAVASCRIPT_LINK"), html) == tag


@pytest.mark.parametrize(
    ("markup", "rule", "tag"),
    [
        ("<script>document.write('x')</script>", "HTML_EMBEDDED_SCRIPT", "<script>"),
        (
            '<iframe src="https://x.example/frame"></iframe>',
            "HTML_IFRAME",
            '<iframe src="https://x.example/frame">',
        ),
        (
            '<form action="https://x.example/login"><input name="password"></form>',
            "HTML_FORM",
            '<form action="https://x.example/login">',
        ),
    ],
)
def test_active_content(scorer: rules.Scorer, markup: str, rule: str, tag: str) -> None:
    html = clean_html(body_extra=markup)
    assert located(find(scorer.score(template(html=html)), rule), html) == tag


def test_too_many_links(scorer: rules.Scorer) -> None:
    links = "".join(f'<a href="https://greenleaf.example/p/{i}">Plant {i}</a> ' for i in range(85))
    hit = find(
        scorer.score(template(html=clean_html(body_extra=f"<p>{links}</p>"))), "TOO_MANY_LINKS"
    )
    assert hit.evidence.startswith("87 links")


def test_missing_unsubscribe_link(scorer: rules.Scorer) -> None:
    html = clean_html().replace("Unsubscribe", "Visit us").replace("/unsubscribe?u=1", "/visit")
    text = clean_text().replace("Unsubscribe", "Visit").replace("/unsubscribe?u=1", "/visit")
    hit = find(scorer.score(template(html=html, text=text)), "MISSING_UNSUBSCRIBE_LINK")
    assert hit.location == rules.Location("html")


@pytest.mark.parametrize(
    "label",
    ["Abmelden", "Se désinscrire", "Darse de baja", "Отписаться", "退订", "配信停止", "수신거부"],
)
def test_unsubscribe_link_is_recognised_in_every_language(scorer: rules.Scorer, label: str) -> None:
    html = clean_html().replace(">Unsubscribe<", f">{label}<").replace("/unsubscribe?u=1", "/u/1")
    text = clean_text().replace("Unsubscribe", label).replace("/unsubscribe?u=1", "/u/1")
    assert "MISSING_UNSUBSCRIBE_LINK" not in {
        h.rule for h in scorer.score(template(html=html, text=text)).hits
    }


def test_missing_postal_address(scorer: rules.Scorer) -> None:
    html = clean_html().replace(FOOTER_TEXT, "Greenleaf Garden Shop")
    text = clean_text().replace(FOOTER_TEXT, "Greenleaf Garden Shop")
    assert find(
        scorer.score(template(html=html, text=text)), "MISSING_POSTAL_ADDRESS"
    ).location == rules.Location("html")


@pytest.mark.parametrize(
    "address",
    [
        "Gartenhaus GmbH, Lindenstraße 14, 10115 Berlin",
        "Jardins SARL, 8 rue des Lilas, 75011 Paris",
        "Jardines SL, Calle Mayor 5, 28013 Madrid",
        "ООО «Сад», ул. Садовая, д. 5, Москва",
        "〒150-0001 東京都渋谷区神宮前1丁目2",
        "서울특별시 강남구 테헤란로 123",
        "Greenleaf Ltd, 4 High Street, London SW1A 1AA",
    ],
)
def test_postal_addresses_in_several_formats_are_found(scorer: rules.Scorer, address: str) -> None:
    html = clean_html().replace(FOOTER_TEXT, address)
    text = clean_text().replace(FOOTER_TEXT, address)
    assert "MISSING_POSTAL_ADDRESS" not in {
        h.rule for h in scorer.score(template(html=html, text=text)).hits
    }


def test_subject_checks(scorer: rules.Scorer) -> None:
    empty = find(scorer.score(template(subject="")), "SUBJECT_EMPTY")
    assert empty.location == rules.Location("subject", 0, 0)

    long_subject = SUBJECT + " and a very long tail that nobody reads on a phone"
    too_long = find(scorer.score(template(subject=long_subject)), "SUBJECT_TOO_LONG")
    assert too_long.location == rules.Location("subject", 60, len(long_subject))

    caps = find(scorer.score(template(subject="HUGE SPRING SALE TODAY")), "SUBJECT_ALL_CAPS")
    assert caps.location == rules.Location("subject", 0, 22)

    subject = "Spring sale!!! $$$ inside"
    result = scorer.score(template(subject=subject))
    assert located(find(result, "SUBJECT_EXCLAMATIONS"), subject) == "!!!"
    assert located(find(result, "SUBJECT_MONEY_SIGNS"), subject) == "$$$"

    emoji = "Spring sale 🌷🌷🔥🔥💰 today"
    storm = find(scorer.score(template(subject=emoji)), "SUBJECT_EMOJI_STORM")
    assert located(storm, emoji) == "🌷🌷🔥🔥💰"


def test_body_emoji_storm(scorer: rules.Scorer) -> None:
    html = clean_html(body_extra="<p>" + "🔥" * 25 + "</p>")
    hit = find(scorer.score(template(html=html)), "BODY_EMOJI_STORM")
    assert located(hit, html) == "🔥" * 25


def test_title_that_differs_from_the_subject(scorer: rules.Scorer) -> None:
    html = clean_html(title="Untitled document")
    assert (
        located(find(scorer.score(template(html=html)), "TITLE_SUBJECT_MISMATCH"), html)
        == "Untitled document"
    )


def test_broken_markup_points_at_the_offending_tag(scorer: rules.Scorer) -> None:
    html = clean_html(body_extra="<p><b><i>bold italic</b></i></p>")
    hit = find(scorer.score(template(html=html)), "HTML_BROKEN_MARKUP")
    assert located(hit, html) == "</b>"
    unclosed = clean_html(body_extra="<div><span>never closed")
    assert find(scorer.score(template(html=unclosed)), "HTML_BROKEN_MARKUP").evidence.startswith(
        "<"
    )


def test_url_shortener_and_plain_http(scorer: rules.Scorer) -> None:
    tag = '<a href="http://bit.ly/3xYz">'
    html = clean_html(body_extra=f"<p>{tag}Spring offer</a></p>")
    result = scorer.score(template(html=html))
    assert located(find(result, "URI_SHORTENER"), html) == tag
    assert located(find(result, "URI_PLAIN_HTTP"), html) == tag
    text = clean_text() + "\n\nOffer: https://tinyurl.com/abc"
    text_hit = find(scorer.score(template(text=text)), "URI_SHORTENER")
    assert located(text_hit, text) == "https://tinyurl.com/abc"


def test_header_rules_apply_only_to_messages_with_headers(scorer: rules.Scorer) -> None:
    headers = (("X-Priority", "1 (Highest)"), ("From", "shop@greenleaf.example"))
    result = scorer.score(template(headers=headers))
    assert find(result, "HEADER_PRIORITY_HIGH").evidence == "X-Priority: 1 (Highest)"
    assert find(result, "MISSING_LIST_UNSUBSCRIBE_HEADER").location == rules.Location("headers")
    with_list = (*headers, ("List-Unsubscribe", "<https://greenleaf.example/u/1>"))
    assert "MISSING_LIST_UNSUBSCRIBE_HEADER" not in {
        h.rule for h in scorer.score(template(headers=with_list)).hits
    }
    assert "MISSING_LIST_UNSUBSCRIBE_HEADER" not in {h.rule for h in scorer.score(template()).hits}


@pytest.mark.parametrize(
    ("href", "hit"),
    [
        ("https://greenleaf.example/files/setup.exe", True),
        ("https://greenleaf.example/app.apk?v=2", True),
        ("https://www.greenleaf.com", False),
        ("mailto:help@greenleaf.com", False),
        ("https://greenleaf.example/setup.exe.html", False),
    ],
)
def test_executable_links_are_told_from_domains(scorer: rules.Scorer, href: str, hit: bool) -> None:
    html = clean_html(body_extra=f'<p><a href="{href}">Download</a></p>')
    assert ("URI_EXECUTABLE" in {h.rule for h in scorer.score(template(html=html)).hits}) is hit


def test_reply_prefix_is_fake_only_without_reply_headers(scorer: rules.Scorer) -> None:
    subject = "RE: your spring order"
    hit = find(scorer.score(template(subject=subject)), "SUBJECT_FAKE_REPLY")
    assert located(hit, subject) == "RE:"
    reply = template(subject=subject, headers=(("In-Reply-To", "<a1@greenleaf.example>"),))
    assert "SUBJECT_FAKE_REPLY" not in {h.rule for h in scorer.score(reply).hits}
