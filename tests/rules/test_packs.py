"""Rule packs: the shipped packs are complete, and bad packs fail naming file and rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import rules
from rules import PackError, load_packs
from rules._packs import PACKS_DIR, SUPPORTED_LANGUAGES


def test_shipped_packs_cover_every_language_with_enough_rules() -> None:
    counts = load_packs().count_by_pack()
    assert counts["en"] >= 60
    for language in SUPPORTED_LANGUAGES:
        assert counts[language] >= 20, language
    assert counts["structure"] >= 30


def test_every_rule_kind_is_used_and_rules_of_a_language_pack_name_that_language() -> None:
    ruleset = load_packs()
    assert {rule.kind for rule in ruleset.rules.values()} == {
        "phrase",
        "token",
        "regex",
        "structure",
        "header",
        "uri",
    }
    for pack in ruleset.packs:
        for rule in pack.rules:
            assert rule.remediation and rule.description
            if pack.language != "*":
                assert pack.language in rule.languages, rule.id
                assert rule.id.startswith(pack.language.upper() + "_"), rule.id


def _pack_dir(tmp_path: Path, name: str, document: dict[str, object]) -> Path:
    directory = tmp_path / "packs"
    directory.mkdir()
    shutil.copy(PACKS_DIR / "structure.yaml", directory / "structure.yaml")
    (directory / name).write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return directory


def _rule(**overrides: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "id": "EN_TEST_RULE",
        "description": "A test rule.",
        "kind": "phrase",
        "languages": ["en"],
        "patterns": ["act now"],
        "weight": 1.0,
        "remediation": "Do not.",
    }
    rule.update(overrides)
    return {key: value for key, value in rule.items() if value is not None}


def _pack(*rules_: dict[str, object]) -> dict[str, object]:
    return {"pack": "en", "language": "en", "rules": list(rules_)}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_rule(colour="red"), "unknown keys: colour"),
        (_rule(kind="regex", patterns=["(unclosed"]), "bad regular expression"),
        (_rule(kind="token", patterns=[[{"LOWER": "a", "OP": "??"}]]), "invalid token pattern"),
        (_rule(kind="token", patterns=[[{"LOWR": "a"}]]), "unknown token attributes: LOWR"),
        (_rule(kind="spell"), "kind must be one of"),
        (_rule(weight="high"), "weight must be a number"),
        (_rule(languages=["pt"]), "languages must be a list"),
        (_rule(remediation=None), "missing keys: remediation"),
        (_rule(patterns=[]), "patterns must be a non-empty list"),
        (_rule(patterns=["act now", "act now"]), "patterns contain duplicates"),
        (
            _rule(kind="structure", patterns=None, check="no_such_check"),
            "unknown structural check 'no_such_check'",
        ),
        (
            _rule(
                kind="structure",
                patterns=None,
                check="missing_postal_address",
                params={"patterns": {"en": ["[unclosed"]}},
            ),
            "bad regular expression",
        ),
        (_rule(kind="uri", patterns=None, domains=["Not A Domain"]), "domains must be"),
        (_rule(check="raw_ip_link"), "keys not used by kind phrase: check"),
    ],
)
def test_invalid_rule_is_refused_naming_file_and_rule(
    tmp_path: Path, rule: dict[str, object], message: str
) -> None:
    directory = _pack_dir(tmp_path, "en.yaml", _pack(rule))
    with pytest.raises(PackError) as raised:
        load_packs(directory)
    error = raised.value
    assert error.path == str(directory / "en.yaml")
    assert error.rule == "EN_TEST_RULE"
    assert message in str(error)
    assert "en.yaml: rule EN_TEST_RULE:" in str(error)


def test_bad_rule_id_is_refused(tmp_path: Path) -> None:
    directory = _pack_dir(tmp_path, "en.yaml", _pack(_rule(id="act-now")))
    with pytest.raises(PackError, match=r"en\.yaml: rule act-now: id must be UPPER_CASE"):
        load_packs(directory)


def test_duplicate_id_in_one_pack_is_refused(tmp_path: Path) -> None:
    directory = _pack_dir(tmp_path, "en.yaml", _pack(_rule(), _rule(patterns=["buy now"])))
    with pytest.raises(PackError, match=r"en\.yaml: rule EN_TEST_RULE: duplicate rule id"):
        load_packs(directory)


def test_duplicate_id_across_packs_names_both_files(tmp_path: Path) -> None:
    directory = _pack_dir(tmp_path, "en.yaml", _pack(_rule(id="SUBJECT_EMPTY")))
    with pytest.raises(PackError) as raised:
        load_packs(directory)
    assert raised.value.rule == "SUBJECT_EMPTY"
    assert "en.yaml" in str(raised.value) and "structure.yaml" in str(raised.value)


def test_unknown_pack_key_and_broken_yaml_name_the_file(tmp_path: Path) -> None:
    directory = _pack_dir(tmp_path, "en.yaml", {**_pack(_rule()), "author": "x"})
    with pytest.raises(PackError, match=r"en\.yaml: unknown pack keys: author"):
        load_packs(directory)
    (directory / "en.yaml").write_text("pack: en\nrules: [\n", encoding="utf-8")
    with pytest.raises(PackError, match=r"en\.yaml: cannot read pack"):
        load_packs(directory)


def test_scorer_refuses_to_start_on_a_bad_pack(tmp_path: Path) -> None:
    directory = _pack_dir(tmp_path, "en.yaml", _pack(_rule(kind="regex", patterns=["(x"])))
    with pytest.raises(PackError):
        rules.Scorer(packs_dir=directory)


def test_a_valid_custom_pack_is_scored(tmp_path: Path) -> None:
    directory = _pack_dir(tmp_path, "en.yaml", _pack(_rule(patterns=["quarterly bonanza"])))
    scorer = rules.Scorer(packs_dir=directory)
    result = scorer.score(
        rules.TemplateInput(
            subject="News", text="Welcome to the quarterly bonanza of our garden club members."
        )
    )
    hit = next(h for h in result.hits if h.rule == "EN_TEST_RULE")
    assert hit.evidence == "quarterly bonanza"
    assert hit.remediation == "Do not."
