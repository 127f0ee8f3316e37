"""Blank spaCy pipelines per language with the packs' phrase and token rules compiled.

No trained model is needed: rules match on token text (``LOWER``). Each
pipeline is built once, on first use, and reused. Matching mutates spaCy's
string store and tokenizer cache, so each pipeline carries a lock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import spacy
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.util import compile_prefix_regex
from spacy.vocab import Vocab

from rules._packs import Rule

# Languages whose tokens are whole words, so a word-set test can rule out a pattern.
_SPACED_LANGUAGES = frozenset({"en", "de", "fr", "es", "ru"})
_WORDS = re.compile(r"\w+|[^\w\s]")
# For ASCII text the same set without a list of every token: non-word characters
# become spaces, the rest splits on white space exactly as \s does.
_ASCII_NON_WORD_TO_SPACE = str.maketrans(
    {chr(c): " " for c in range(128) if not re.fullmatch(r"\w", chr(c))})
_PLAIN_WORD = re.compile(r"\w+|[^\w\s]")

# spaCy splits on spaces only: a run like "1\n\n\nStory" becomes one uncached
# chunk for the affix regexes, which made HTML-derived text twenty times slower
# to tokenize. One space per whitespace character keeps every offset.
_WHITESPACE_TO_SPACE = str.maketrans({c: " " for c in "\t\n\x0b\x0c\r\x85\xa0\u2028\u2029"})

# French elision ("l'offre", "qu'il") splits off the article so "offre" matches.
_FRENCH_ELISION = r"(?i:(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)['’])(?=\w)"


class KoreanSyllableTokenizer:
    """One token per Hangul syllable; runs of other letters or digits stay whole.

    spaCy's Korean tokenizer needs the external mecab-ko binary. Korean attaches
    particles to words ("무료로" = "무료" + "로"), so whitespace tokens would hide
    the word; syllable tokens let a phrase match inside a word, the way Chinese
    is matched by characters.
    """

    _TOKEN = re.compile(r"[\uac00-\ud7a3]|[^\W\uac00-\ud7a3_]+|\S")

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words: list[str] = []
        spaces: list[bool] = []
        position = 0
        for match in self._TOKEN.finditer(text):
            self._gap(text[position:match.start()], words, spaces)
            words.append(match.group(0))
            spaces.append(False)
            position = match.end()
        self._gap(text[position:], words, spaces)
        return Doc(self.vocab, words=words, spaces=spaces)

    @staticmethod
    def _gap(gap: str, words: list[str], spaces: list[bool]) -> None:
        if not gap:
            return
        if words and gap[0] == " " and not spaces[-1]:
            spaces[-1] = True
            gap = gap[1:]
        if gap:
            words.append(gap)
            spaces.append(False)


def make_blank_pipeline(language: str) -> Language:
    """A blank pipeline whose tokenizer suits rule matching in ``language``."""
    if language == "zh":
        return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    if language == "ja":
        return spacy.blank("ja", config={"nlp": {"tokenizer": {"split_mode": "A"}}})
    if language == "ko":
        # The rule-based tokenizer in the config only avoids loading mecab-ko;
        # it is replaced by the syllable tokenizer right away.
        config = {"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}}
        nlp = spacy.blank("ko", config=config)
        nlp.tokenizer = KoreanSyllableTokenizer(nlp.vocab)
        return nlp
    if language == "fr":
        # spacy.blank("fr") spends over 3 s building its tokenizer exceptions on
        # first import; the multi-language tokenizer plus French elision matches
        # phrases the same way and starts in milliseconds.
        nlp = spacy.blank("xx")
        prefixes = [_FRENCH_ELISION, *nlp.Defaults.prefixes]
        nlp.tokenizer.prefix_search = compile_prefix_regex(prefixes).search
        return nlp
    return spacy.blank(language)


@dataclass(frozen=True)
class _TokenRule:
    rule_id: str
    matcher: Matcher
    requirements: tuple[tuple[frozenset[str], ...], ...] | None


@dataclass
class LanguagePipeline:
    """A blank pipeline and the matchers of every phrase/token rule for one language."""

    language: str
    nlp: Language
    phrase_matcher: PhraseMatcher
    token_rules: tuple[_TokenRule, ...]
    rule_ids: frozenset[str]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def match(self, text: str) -> list[tuple[str, int, int, str]]:
        """(rule id, start char, end char, matched text) for every match in ``text``."""
        with self.lock:
            doc = self.nlp.make_doc(text.translate(_WHITESPACE_TO_SPACE))
            found: list[tuple[str, int, int, str]] = []
            strings = self.nlp.vocab.strings
            for match_id, start, end in self.phrase_matcher(doc):
                span = doc[start:end]
                found.append((strings[match_id], span.start_char, span.end_char, span.text))
            words = (_word_set(text.lower())
                     if self.token_rules and self.language in _SPACED_LANGUAGES else None)
            for token_rule in self.token_rules:
                if not _could_match(token_rule.requirements, words):
                    continue
                for match_id, start, end in token_rule.matcher(doc):
                    span = doc[start:end]
                    found.append((strings[match_id], span.start_char, span.end_char,
                                  span.text))
        return found


def build_pipeline(language: str, rules: Iterable[Rule]) -> LanguagePipeline:
    nlp = make_blank_pipeline(language)
    phrase_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    token_rules: list[_TokenRule] = []
    ids: set[str] = set()
    for rule in rules:
        if not rule.applies_to(language):
            continue
        if rule.kind == "phrase":
            phrase_matcher.add(rule.id, [nlp.make_doc(p) for p in rule.patterns])
        elif rule.kind == "token":
            matcher = Matcher(nlp.vocab)
            matcher.add(rule.id, [alt for p in rule.patterns for alt in _literal_first(list(p))])
            token_rules.append(_TokenRule(rule.id, matcher, _requirements(rule.patterns)))
        else:
            continue
        ids.add(rule.id)
    return LanguagePipeline(language, nlp, phrase_matcher, tuple(token_rules), frozenset(ids))


def _literal_first(pattern: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split a pattern whose first token is a small ``IN`` set into one pattern per value.

    spaCy tests the first token of every pattern at every token of the text; a
    literal is compared in C, but an ``IN`` set is a Python predicate that costs
    microseconds per token (seconds on a long message). Later tokens are only
    tested after the first matched, so they may keep their sets.
    """
    first = pattern[0]
    if first.get("OP") in ("?", "*"):
        return [pattern]
    for attr in ("LOWER", "TEXT", "ORTH", "NORM"):
        value = first.get(attr)
        if isinstance(value, dict) and set(value) == {"IN"} and len(value["IN"]) <= 12:
            return [[{**first, attr: item}, *pattern[1:]] for item in value["IN"]]
    return [pattern]


def _requirements(patterns: Iterable[Any]) -> tuple[tuple[frozenset[str], ...], ...] | None:
    """Per pattern, the word sets a text must touch for the pattern to match.

    spaCy's Matcher costs about a microsecond per token and pattern even when
    nothing matches; testing the required literal words against the text's
    word set first lets most mail skip it. Only values that are plain words or
    a single punctuation mark count (they are tokens in any whitespace-
    delimited language); a pattern without one disables the shortcut.
    """
    result: list[tuple[frozenset[str], ...]] = []
    for pattern in patterns:
        required: list[frozenset[str]] = []
        for spec in pattern:
            if spec.get("OP") in ("?", "*", "!"):
                continue
            for attr in ("LOWER", "TEXT", "ORTH", "NORM"):
                value = spec.get(attr)
                values = ([value] if isinstance(value, str)
                          else value.get("IN") if isinstance(value, dict) else None)
                if values and all(isinstance(v, str) and _PLAIN_WORD.fullmatch(v)
                                  for v in values):
                    required.append(frozenset(v.lower() for v in values))
                    break
        if not required:
            return None
        result.append(tuple(required))
    return tuple(result)


def _word_set(lowered: str) -> set[str]:
    """The set of ``_WORDS`` tokens in ``lowered``."""
    if not lowered.isascii():
        return set(_WORDS.findall(lowered))
    words = set(lowered.translate(_ASCII_NON_WORD_TO_SPACE).split())
    words.update(c for c in set(lowered) if not c.isspace() and not c.isalnum() and c != "_")
    return words


def _could_match(requirements: tuple[tuple[frozenset[str], ...], ...] | None,
                 words: set[str] | None) -> bool:
    if requirements is None or words is None:
        return True
    return any(all(words & needed for needed in pattern) for pattern in requirements)
