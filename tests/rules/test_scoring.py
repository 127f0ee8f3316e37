"""Scoring as a whole: mixed languages, bad input, verdicts and policy, threads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import rules
from rules import PolicyError, ScoringPolicy, TemplateInput

ENGLISH = (
    "Our spring range has arrived, with linen shirts and light jackets for warm days. "
    "This week only, act now and get free delivery on every order over fifty pounds. "
)
GERMAN = (
    "Unsere Frühjahrskollektion ist da, mit Leinenhemden und leichten Jacken für warme "
    "Tage. Jetzt zugreifen: nur für kurze Zeit liefern wir jede Bestellung kostenlos. "
)
PORTUGUESE = (
    "A nossa coleção de primavera chegou, com camisas de linho e casacos leves para os "
    "dias quentes. Aproveite a entrega gratuita em todas as encomendas desta semana. "
)


def test_mixed_language_mail_is_scored_in_every_language(scorer: rules.Scorer) -> None:
    html = f"<html><body><p>{ENGLISH * 2}</p><p>{GERMAN * 2}</p></body></html>"
    result = scorer.score(TemplateInput(subject="Spring / Frühling", html=html))
    assert set(result.languages) == {"en", "de"}
    rule_ids = {hit.rule for hit in result.hits}
    assert {"EN_ACT_NOW", "DE_JETZT_ZUGREIFEN", "DE_NUR_KURZE_ZEIT", "DE_KOSTENLOS"} <= rule_ids
    german = next(hit for hit in result.hits if hit.rule == "DE_JETZT_ZUGREIFEN")
    assert german.location is not None and german.location.start is not None
    assert html[german.location.start : german.location.end] == "Jetzt zugreifen"


def test_cjk_and_latin_mix(scorer: rules.Scorer) -> None:
    text = ("恭喜您中奖！限时抢购，完全免费领取奖品。" * 4) + "\n\n" + ENGLISH * 2
    result = scorer.score(TemplateInput(subject="Info", text=text))
    assert {"zh", "en"} <= set(result.languages)
    assert {"ZH_ZHONGJIANG", "EN_ACT_NOW"} <= {hit.rule for hit in result.hits}


def test_unsupported_language_is_reported_not_guessed(scorer: rules.Scorer) -> None:
    result = scorer.score(TemplateInput(subject="Primavera", text=PORTUGUESE * 3))
    assert result.language == "pt"
    assert "language: unsupported (detected: pt) — phrase rules not applied" in result.unchecked
    assert not any(hit.rule[:3] in {"ES_", "EN_", "FR_"} for hit in result.hits)
    # Structural rules still run.
    assert "MISSING_UNSUBSCRIBE_LINK" in {hit.rule for hit in result.hits}


def test_broken_html_never_crashes(scorer: rules.Scorer) -> None:
    broken = (
        '<html><body><table><tr><td><p>Act now <b>and <i>save</b></i> <a href="http://'
        "<div style='color:'><font color=></td></tr><<<>>><!-- unclosed comment <script>"
    )
    result = scorer.score(TemplateInput(subject="Offer", html=broken))
    assert "HTML_BROKEN_MARKUP" in {hit.rule for hit in result.hits}
    json.dumps(result.to_dict())


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        "<",
        "</p></p></div>",
        "\x00\x01\x02",
        "<a href='http://[::1'>x</a>",
        "<p style='font-size:abc; color: rgb(999,999,999)'>x</p>",
        "<img src=>" * 50,
    ],
)
def test_degenerate_html(scorer: rules.Scorer, html: str) -> None:
    result = scorer.score(TemplateInput(subject="x", html=html, text=None))
    assert result.verdict in {"pass", "warn", "block"}


def test_five_megabyte_template_is_capped_and_says_so(scorer: rules.Scorer) -> None:
    paragraph = f"<p>{ENGLISH}</p>"
    html = "<html><body>" + paragraph * (5_000_000 // len(paragraph)) + "</body></html>"
    assert len(html) > 4_900_000
    result = scorer.score(TemplateInput(subject="Spring", html=html))
    assert any(note.startswith("html: only the first 1000000 of") for note in result.unchecked)
    assert any("were scanned by phrase rules" in note for note in result.unchecked)
    assert "EN_ACT_NOW" in {hit.rule for hit in result.hits}


def test_absurd_nesting_is_cut_and_reported(scorer: rules.Scorer) -> None:
    html = "<div>" * 100_000 + "Act now" + "</div>" * 100_000
    result = scorer.score(TemplateInput(subject="Nest", html=html))
    assert any("nest more than 1000 deep" in note for note in result.unchecked)
    broken = next(hit for hit in result.hits if hit.rule == "HTML_BROKEN_MARKUP")
    assert broken.evidence.startswith("elements nest more than 1000 deep")


@pytest.mark.parametrize(
    "html",
    ["<a" * 200_000, "<!" * 200_000, '<a href="' + "x" * 500_000, "<?" * 200_000],
)
def test_pathological_markup_is_handled(scorer: rules.Scorer, html: str) -> None:
    result = scorer.score(TemplateInput(subject="x", html=html))
    assert result.verdict in {"pass", "warn", "block"}


def test_empty_template(scorer: rules.Scorer) -> None:
    result = scorer.score(TemplateInput(subject=""))
    rule_ids = {hit.rule for hit in result.hits}
    assert {"SUBJECT_EMPTY", "BODY_TEXT_TOO_SHORT"} <= rule_ids
    assert result.language is None


def test_verdict_follows_policy_thresholds() -> None:
    text = (
        "Congratulations, you have won! Claim your prize now. This is not spam. " * 3
        + "\n\nUnsubscribe: https://shop.example/unsubscribe"
    )
    template = TemplateInput(subject="You won", text=text)
    strict = rules.score_template(template)
    assert strict.score >= strict.threshold == 5.0
    assert strict.verdict == "block"
    lenient = rules.score_template(template, policy=ScoringPolicy(threshold=100.0, warn_at=50.0))
    assert lenient.score == strict.score and lenient.verdict == "pass"
    warn = rules.score_template(template, policy=ScoringPolicy(threshold=100.0, warn_at=1.0))
    assert warn.verdict == "warn"


def test_policy_overrides_weights_and_disables_rules() -> None:
    template = TemplateInput(
        subject="x", text="Click here to see the spring range in our garden shop."
    )
    base = {hit.rule: hit.weight for hit in rules.score_template(template).hits}
    policy = ScoringPolicy(
        weights={"EN_CLICK_HERE": 4.5}, disabled_rules=frozenset({"SUBJECT_EMPTY"})
    )
    changed = {hit.rule: hit.weight for hit in rules.score_template(template, policy=policy).hits}
    assert base["EN_CLICK_HERE"] != 4.5 and changed["EN_CLICK_HERE"] == 4.5
    assert "SUBJECT_EMPTY" not in changed


def test_policy_file_is_validated(tmp_path: Path) -> None:
    assert ScoringPolicy.load().threshold == 5.0
    path = tmp_path / "policy.yaml"
    path.write_text("threshold: 4\nwarn_at: 6\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="warn_at"):
        ScoringPolicy.load(path)
    path.write_text("threshold: 4\nthreshhold: 3\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="unknown policy keys: threshhold"):
        ScoringPolicy.load(path)


def test_legal_findings_of_the_regional_stage_decide_the_verdict(scorer: rules.Scorer) -> None:
    # Korean law requires "(광고)" at the start of an advertising subject.
    text = "봄 신상품이 도착했습니다. 가벼운 린넨 셔츠와 재킷을 만나 보세요. " * 10
    result = scorer.score(TemplateInput(subject="봄 신상품 안내", text=text, countries=("KR",)))
    assert any(f.severity == "block" for f in result.findings)
    assert result.verdict == "block"
    assert result.score < result.threshold


def test_result_json_shape(scorer: rules.Scorer) -> None:
    result = scorer.score(TemplateInput(subject="FREE!!!", text="Act now."))
    data = json.loads(json.dumps(result.to_dict()))
    assert {"score", "threshold", "verdict", "language", "hits", "findings"} <= set(data)
    hit = data["hits"][0]
    assert {"rule", "weight", "message", "evidence", "location"} <= set(hit)
    assert set(hit["location"]) == {"part", "start", "end"}


def test_scorer_is_safe_to_share_between_threads(scorer: rules.Scorer) -> None:
    from tests.rules.test_phrases import SPAM

    templates = [TemplateInput(subject="Info", text=text) for text, _ in SPAM.values()]
    templates.append(TemplateInput(subject="Spring", html=f"<p>{ENGLISH}</p><p>{GERMAN}</p>"))
    expected = [scorer.score(t).to_dict() for t in templates]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda t: scorer.score(t).to_dict(), templates * 6))
    assert results == expected * 6
