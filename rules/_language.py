"""Content language detection, per paragraph, so mixed-language mail is scored
with every language it contains.

Chinese, Japanese, Korean and Cyrillic-vs-Latin are told apart by script,
which is exact and free. Latin- and Cyrillic-script paragraphs go to lingua,
built once for the supported languages plus a few common unsupported ones, so
that Portuguese is reported as Portuguese rather than as poor Spanish.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_CJK_ANY = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")
_ALPHA_NON_CJK = re.compile(r"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")
# Printable ASCII runs only ([!-~]): CJK text has no spaces, so \S+ would take
# a whole Chinese paragraph along with a URL or a number in it.
_NOT_LANGUAGE = re.compile(r"(?:https?://|www\.|mailto:)[!-~]+|[!-~]+@[!-~]+|[!-~]*\d[!-~]*")
# Paragraph breaks: a newline or carriage return and the white space after it, or two
# white space characters after a sentence end. Written to start with \s so that the
# regex engine skips to white space instead of trying each alternative everywhere.
_PARAGRAPHS = re.compile(r"\s(?:(?<=\n)\s*|(?<=\r)\n?\s*|(?<=[.!?。！？]\s)\s+)")

DETECTOR_LANGUAGES = (
    Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH, Language.RUSSIAN,
    Language.PORTUGUESE, Language.ITALIAN, Language.DUTCH, Language.POLISH, Language.UKRAINIAN,
)
# Paragraph chunks shorter than this are merged with neighbours before lingua sees them:
# a few words are not enough to tell German from Dutch.
_MIN_CHUNK = 120
_MAX_DETECT_CHARS = 2000


@dataclass(frozen=True)
class LanguageShare:
    code: str
    chars: int


class LanguageDetection:
    """Classifies text by paragraph with two lingua detectors, each built once.

    The low-accuracy detector (trigram models) loads in tens of milliseconds and
    is reliable from about 120 characters, the chunk size used here. A text
    that is short as a whole (a short mail, a lone subject) needs the
    high-accuracy models, which take about two seconds to load and hold the
    GIL meanwhile; they are loaded on the first such text, or up front with
    ``warm_up(short_texts=True)``.
    """

    def __init__(self) -> None:
        self._fast: LanguageDetector | None = None
        self._accurate: LanguageDetector | None = None
        self._lock = threading.Lock()

    def warm_up(self, *, short_texts: bool = False) -> None:
        self._fast_detector()
        if short_texts:
            self._accurate_detector()

    def _fast_detector(self) -> LanguageDetector:
        if self._fast is None:
            with self._lock:
                if self._fast is None:
                    self._fast = (LanguageDetectorBuilder
                                  .from_languages(*DETECTOR_LANGUAGES)
                                  .with_low_accuracy_mode()
                                  .with_preloaded_language_models()
                                  .build())
        return self._fast

    def _accurate_detector(self) -> LanguageDetector:
        if self._accurate is None:
            with self._lock:
                if self._accurate is None:
                    self._accurate = (LanguageDetectorBuilder
                                      .from_languages(*DETECTOR_LANGUAGES)
                                      .with_preloaded_language_models()
                                      .build())
        return self._accurate

    def shares(self, text: str) -> list[LanguageShare]:
        """Languages in ``text`` with how many letters each holds, largest first."""
        counts: Counter[str] = Counter()
        chunks: list[str] = []
        pending = ""
        has_cjk = _CJK_ANY.search(text) is not None
        for raw_paragraph in _spread(_PARAGRAPHS.split(text), _MAX_DETECT_CHARS):
            # URLs, addresses and codes are in no language; lingua would guess one.
            paragraph = _NOT_LANGUAGE.sub(" ", raw_paragraph)
            if not paragraph.strip():
                continue
            hangul = kana = han = 0
            if has_cjk:
                hangul = len(_HANGUL.findall(paragraph))
                kana = len(_KANA.findall(paragraph))
                han = len(_HAN.findall(paragraph))
            if hangul:
                counts["ko"] += hangul + han
            elif kana:
                counts["ja"] += kana + han
            elif han:
                counts["zh"] += han
            letters = len(_ALPHA_NON_CJK.findall(paragraph))
            # Latin words inside CJK text (brand names) do not make another language.
            if letters < 3 or letters < hangul + kana + han:
                continue
            pending = f"{pending}\n{paragraph}" if pending else paragraph
            if len(pending) >= _MIN_CHUNK:
                chunks.append(pending)
                pending = ""
        if pending:
            # A short tail joins the last chunk, so only a text that is short as a
            # whole needs the high-accuracy models.
            if chunks:
                chunks[-1] = f"{chunks[-1]}\n{pending}"
            else:
                chunks.append(pending)
        for chunk, language in zip(chunks, self._classify(chunks), strict=True):
            if language is not None:
                counts[language] += len(_ALPHA_NON_CJK.findall(chunk))
        return [LanguageShare(code, chars) for code, chars in counts.most_common() if chars]

    def _classify(self, chunks: list[str]) -> list[str | None]:
        if not chunks:
            return []
        detected: list[Language | None] = [None] * len(chunks)
        long_chunks = [i for i, chunk in enumerate(chunks) if len(chunk) >= _MIN_CHUNK]
        short_chunks = [i for i, chunk in enumerate(chunks) if 0 < len(chunk) < _MIN_CHUNK]
        if long_chunks:
            found = self._fast_detector().detect_languages_in_parallel_of(
                [chunks[i] for i in long_chunks])
            for index, language in zip(long_chunks, found, strict=True):
                detected[index] = language
        if short_chunks:
            accurate = self._accurate_detector()
            for index in short_chunks:
                detected[index] = accurate.detect_language_of(chunks[index])
        return [lang.iso_code_639_1.name.lower() if lang is not None else None
                for lang in detected]


def _spread(paragraphs: list[str], budget: int) -> list[str]:
    """All paragraphs, or an evenly spread subset of about ``budget`` characters
    when there are more: shares, not totals, decide, and a language used only
    near the end of a long mail must still be seen."""
    total = sum(len(p) for p in paragraphs)
    if total <= budget:
        return paragraphs
    count = max(1, round(len(paragraphs) * budget / total))
    indices = sorted({k * len(paragraphs) // count for k in range(count)})
    return [paragraphs[i][:budget] for i in indices]
