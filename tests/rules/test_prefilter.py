"""The literal prefilter must never hide a match the regex would find."""

from __future__ import annotations

import re

import pytest

from rules._prefilter import fold_case, folded_literal_sets, required_literal_sets


def _passes(pattern: str, text: str, flags: int = re.IGNORECASE) -> bool:
    literal_sets = folded_literal_sets(pattern, flags)
    assert literal_sets
    folded = fold_case(text)
    return all(any(literal in folded for literal in literals) for literals in literal_sets)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("iphone", "İPHONE deal"),  # "İ".lower() is two characters, re's is "i"
        ("kiss", "KIſS"),  # long s
        ("σου", "ΣΟΥ"),
        ("τους", "ΤΟΥΣ"),  # final sigma from str.lower()
        ("в подарок", "ᲀ подарок"),  # Cyrillic small letter rounded ve
        ("[!！]{3,}", "wow！！！"),  # a single character class is kept as a filter
        (r"\b(?:won|receive)\s+[$€]\s?\d", "You WON € 5"),
    ],
)
def test_case_variants_are_not_filtered_out(pattern: str, text: str) -> None:
    assert re.search(pattern, text, re.IGNORECASE)
    assert _passes(pattern, text)


def test_every_required_part_is_tested() -> None:
    pattern = r"\b(?:won|receive)\s+[$€]\s?\d"
    assert folded_literal_sets(pattern, re.IGNORECASE) == [
        frozenset({"won", "receive"}), frozenset({"$", "€"})]
    assert not _passes(pattern, "You will receive our winter catalogue.")


def test_patterns_without_a_required_literal_always_run() -> None:
    assert folded_literal_sets(r"\d+\s*%?", re.IGNORECASE) == []


def test_case_sensitive_literals_keep_their_case() -> None:
    assert required_literal_sets("FREE|WIN", keep_case=True) == [frozenset({"FREE", "WIN"})]


@pytest.mark.parametrize("pattern", ["FREE|(?i:win)", "(?i)FREE"])
def test_case_kept_only_where_the_pattern_is_case_sensitive(pattern: str) -> None:
    assert required_literal_sets(pattern, keep_case=True) == []
