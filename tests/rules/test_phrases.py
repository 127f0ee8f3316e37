"""Phrase, token and regex rules in all eight languages, on idiomatic samples.

Each spam sample is written the way such mail is written in that language,
not translated from English; each legitimate sample is an ordinary marketing
paragraph that must not trigger any language rule.
"""

from __future__ import annotations

import pytest

import rules
from rules import ScoreResult, TemplateInput

SPAM = {
    "en": (
        "Congratulations! You have been selected to claim your prize. Act now: this limited "
        "time offer expires today. Absolutely free, no credit check and risk-free. This is "
        "not spam. Click here and earn $500 per day working from home.",
        {
            "EN_YOU_WON",
            "EN_CLAIM_PRIZE",
            "EN_ACT_NOW",
            "EN_LIMITED_TIME",
            "EN_ABSOLUTELY_FREE",
            "EN_CREDIT_REPAIR",
            "EN_RISK_FREE",
            "EN_NOT_SPAM_CLAIM",
            "EN_CLICK_HERE",
            "EN_EARN_PER_PERIOD",
            "EN_WORK_FROM_HOME",
        },
    ),
    "de": (
        "Herzlichen Glückwunsch, Sie haben gewonnen! Jetzt zugreifen, nur für kurze Zeit: "
        "Ihr kostenloses Geschenk wartet. Kredit trotz Schufa mit Sofortzusage. Potenzmittel "
        "ohne Rezept, diskret geliefert. Dies ist kein Spam. Hier klicken!",
        {
            "DE_GEWONNEN",
            "DE_JETZT_ZUGREIFEN",
            "DE_NUR_KURZE_ZEIT",
            "DE_KOSTENLOS",
            "DE_KREDIT_OHNE_SCHUFA",
            "DE_APOTHEKE_OHNE_REZEPT",
            "DE_KEIN_SPAM",
            "DE_HIER_KLICKEN",
        },
    ),
    "fr": (
        "Félicitations, vous avez gagné ! Dépêchez-vous, offre à durée limitée : votre cadeau "
        "offert vous attend. Crédit sans justificatif, même fiché Banque de France. Ceci n'est "
        "pas un spam. Cliquez ici, c'est satisfait ou remboursé.",
        {
            "FR_VOUS_AVEZ_GAGNE",
            "FR_DEPECHEZ_VOUS",
            "FR_OFFRE_LIMITEE",
            "FR_GRATUIT",
            "FR_CREDIT_SANS_JUSTIFICATIF",
            "FR_PAS_DU_SPAM",
            "FR_CLIQUEZ_ICI",
            "FR_SANS_RISQUE",
        },
    ),
    "es": (
        "¡Enhorabuena, has ganado! Date prisa, oferta por tiempo limitado: totalmente gratis y "
        "sin compromiso. Préstamo rápido aunque estés en ASNEF. Esto no es spam. Haz clic aquí "
        "para reclamar tu premio, es un chollo.",
        {
            "ES_HAS_GANADO",
            "ES_DATE_PRISA",
            "ES_TIEMPO_LIMITADO",
            "ES_TOTALMENTE_GRATIS",
            "ES_GRATIS",
            "ES_PRESTAMO_FACIL",
            "ES_NO_ES_SPAM",
            "ES_HAZ_CLIC",
            "ES_PRECIOS_LOCOS",
        },
    ),
    "ru": (
        "Поздравляем, вы выиграли! Только сегодня: абсолютно бесплатно и без предоплаты. "
        "Кредит без справок и микрозаймы на карту. Это не спам. Жми сюда, чтобы забрать свой "
        "приз. Заработок без вложений в интернете, от 5000 руб. в день.",
        {
            "RU_VY_VYIGRALI",
            "RU_TOLKO_SEGODNYA",
            "RU_ABSOLYUTNO_BESPLATNO",
            "RU_BESPLATNO",
            "RU_KREDIT_BEZ_SPRAVOK",
            "RU_NE_SPAM",
            "RU_ZHMI_SYUDA",
            "RU_ZARABOTOK",
            "RU_DOHOD_V_DEN",
        },
    ),
    "zh": (
        "恭喜您中奖！限时抢购，仅限今天，完全免费领取。无抵押贷款，当天放款。代开发票请联系。"
        "这不是垃圾邮件。点击这里领取奖品，加微信：abc123。",
        {
            "ZH_ZHONGJIANG",
            "ZH_XIANSHI_QIANGGOU",
            "ZH_WANQUAN_MIANFEI",
            "ZH_MIANFEI",
            "ZH_DAIKUAN",
            "ZH_FAPIAO",
            "ZH_BUSHI_LAJI",
            "ZH_DIANJI_ZHELI",
            "ZH_LIANXI_FANGSHI",
        },
    ),
    "ja": (
        "おめでとうございます！あなたが選ばれました。期間限定、本日限りの完全無料キャンペーン。"
        "今すぐクリックして賞金を受け取ってください。審査なしの即日融資もご案内します。"
        "これは迷惑メールではありません。",
        {
            "JA_TOUSEN",
            "JA_KIGEN_GENTEI",
            "JA_KANZEN_MURYOU",
            "JA_IMASUGU",
            "JA_KOKO_WO_CLICK",
            "JA_YUUSHI",
            "JA_SPAM_DEHA_NAI",
        },
    ),
    "ko": (
        "축하합니다! 당첨되셨습니다. 오늘만 진행되는 완전 무료 이벤트, 선착순 마감 임박! "
        "무직자 대출, 당일 입금 가능. 스팸이 아닙니다. 지금 바로 신청하세요, 여기를 클릭!",
        {
            "KO_DANGCHEOM",
            "KO_GIGAN_HANJEONG",
            "KO_WANJEON_MURYO",
            "KO_DAECHUL",
            "KO_SPAM_ANIM",
            "KO_JIGEUM_BARO",
            "KO_YEOGI_KEULLIK",
        },
    ),
}

LEGITIMATE = {
    "en": "Thank you for your order. Your parcel with the linen shirt left our warehouse this "
    "morning and should reach you on Thursday. You can follow it in your account.",
    "de": "Vielen Dank für Ihre Bestellung. Ihr Paket mit dem Leinenhemd hat heute unser Lager "
    "verlassen und sollte am Donnerstag bei Ihnen sein. Den Versand sehen Sie im Konto.",
    "fr": "Merci pour votre commande. Votre colis contenant la chemise en lin a quitté notre "
    "entrepôt ce matin et devrait arriver jeudi. Vous pouvez le suivre dans votre compte.",
    "es": "Gracias por tu pedido. Tu paquete con la camisa de lino salió esta mañana de nuestro "
    "almacén y debería llegar el jueves. Puedes seguirlo desde tu cuenta.",
    "ru": "Спасибо за заказ. Посылка с льняной рубашкой сегодня утром покинула наш склад и "
    "должна прийти в четверг. Отслеживать её можно в личном кабинете.",
    "zh": "感谢您的订购。您购买的亚麻衬衫今天上午已从仓库发出，预计周四送达。"
    "您可以在账户中查看物流信息。",
    "ja": "ご注文ありがとうございます。リネンシャツを含むお荷物は本日午前に倉庫から発送され、"
    "木曜日にお届けの予定です。配送状況はマイページでご確認いただけます。",
    "ko": "주문해 주셔서 감사합니다. 린넨 셔츠가 담긴 상자는 오늘 오전 물류센터에서 출고되었으며 "
    "목요일에 도착할 예정입니다. 배송 현황은 내 계정에서 확인하실 수 있습니다.",
}


def language_hits(result: ScoreResult, language: str) -> set[str]:
    return {hit.rule for hit in result.hits if hit.rule.startswith(language.upper() + "_")}


@pytest.mark.parametrize("language", sorted(SPAM))
def test_spam_sample_hits_the_language_rules(scorer: rules.Scorer, language: str) -> None:
    text, expected = SPAM[language]
    result = scorer.score(TemplateInput(subject="Info", text=text))
    assert result.language == language
    assert expected <= language_hits(result, language), expected - language_hits(result, language)
    for hit in result.hits:
        if hit.rule.startswith(language.upper() + "_"):
            assert hit.location is not None and hit.location.part == "text"
            assert hit.location.start is not None and hit.location.end is not None
            assert text[hit.location.start : hit.location.end] == hit.evidence.split(" (and ")[0]


@pytest.mark.parametrize("language", sorted(LEGITIMATE))
def test_ordinary_marketing_text_hits_no_language_rule(scorer: rules.Scorer, language: str) -> None:
    result = scorer.score(TemplateInput(subject="Info", text=LEGITIMATE[language]))
    assert result.language == language
    assert language_hits(result, language) == set()


def test_phrase_in_html_is_located_in_the_raw_source(scorer: rules.Scorer) -> None:
    html = (
        "<html><body><p>Dear friend, our spring range is here &amp; it is lovely.</p>"
        "<p>Please <b>act now</b> &mdash; the garden waits.</p></body></html>"
    )
    result = scorer.score(TemplateInput(subject="Spring", html=html))
    hits = {hit.rule: hit for hit in result.hits}
    act_now = hits["EN_ACT_NOW"].location
    assert act_now is not None and act_now.part == "html"
    assert html[act_now.start : act_now.end] == "act now"
    friend = hits["EN_IMPERSONAL_GREETING"].location
    assert friend is not None and html[friend.start : friend.end] == "Dear friend"


def test_subject_only_rules_ignore_the_body(scorer: rules.Scorer) -> None:
    body = "We have a free gardening workshop for members of the allotment society this spring."
    assert "EN_SUBJECT_FREE" not in {
        h.rule for h in scorer.score(TemplateInput(subject="Workshop", text=body)).hits
    }
    subject_hit = next(
        h
        for h in scorer.score(TemplateInput(subject="Your free workshop", text=body)).hits
        if h.rule == "EN_SUBJECT_FREE"
    )
    assert subject_hit.location == rules.Location("subject", 5, 9)


def test_a_rule_scores_once_however_often_it_matches(scorer: rules.Scorer) -> None:
    text = "Click here for seeds. Click here for bulbs. Click here for tools, in our shop today."
    hits = [
        h
        for h in scorer.score(TemplateInput(subject="Shop", text=text)).hits
        if h.rule == "EN_CLICK_HERE"
    ]
    assert len(hits) == 1
    assert hits[0].evidence == "Click here (and 2 more)"
