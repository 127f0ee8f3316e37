"""The literal prefilter must never hide a match the regex would find."""

from __future__ import annotations

import re

import pytest

from rules._prefilter import fold_case, folded_literals, required_literals


def _hidden(pattern: str, text: str, flags: int = re.IGNORECASE) -> bool:
    literals = folded_literals(pattern, flags)
    assert literals is not None
    found = re.search(pattern, text, flags) is not None
    passes = any(literal in fold_case(text) for literal in literals)
    return found and not passes


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("iphone", "İPHONE deal"),  # "İ".lower() is two characters, re's is "i"
        ("kiss", "KIſS"),  # long s
        ("σου", "ΣΟΥ"),
        ("τους", "ΤΟΥΣ"),  # final sigma from str.lower()
        ("в подарок", "ᲀ подарок"),  # Cyrillic small letter rounded ve
        ("[!！]{3,}", "wow！！！"),  # a single character class is kept as a filter
    ],
)
def test_case_variants_are_not_filtered_out(pattern: str, text: str) -> None:
    assert not _hidden(pattern, text)


def test_absent_literal_rules_out_the_pattern() -> None:
    literals = folded_literals(r"\bguaranteed\s+returns?\b", re.IGNORECASE)
    assert literals == frozenset({"guaranteed"})
    assert not any(literal in fold_case("A calm newsletter.") for literal in literals)


def test_patterns_without_a_required_literal_always_run() -> None:
    assert folded_literals(r"\d+\s*%?", re.IGNORECASE) is None


def test_case_sensitive_literals_keep_their_case() -> None:
    assert required_literals("FREE|WIN", keep_common=True, keep_case=True) == {"FREE", "WIN"}


@pytest.mark.parametrize("pattern", ["FREE|(?i:win)", "(?i)FREE"])
def test_case_kept_only_where_the_pattern_is_case_sensitive(pattern: str) -> None:
    assert required_literals(pattern, keep_common=True, keep_case=True) is None
