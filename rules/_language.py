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
_ALPHA_NON_CJK = re.compile(r"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")
_PARAGRAPHS = re.compile(r"\n\s*|\r\n?\s*|(?<=[.!?。！？])\s{2,}")

DETECTOR_LANGUAGES = (
    Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH, Language.RUSSIAN,
    Language.PORTUGUESE, Language.ITALIAN, Language.DUTCH, Language.POLISH, Language.UKRAINIAN,
)
# Paragraph chunks shorter than this are merged with neighbours before lingua sees them:
# a few words are not enough to tell German from Dutch.
_MIN_CHUNK = 120
_MAX_CHUNKS = 30
_MAX_DETECT_CHARS = 5000


@dataclass(frozen=True)
class LanguageShare:
    code: str
    chars: int


class LanguageDetection:
    """Builds the lingua detector once (first use) and classifies text by paragraph."""

    def __init__(self) -> None:
        self._detector: LanguageDetector | None = None
        self._lock = threading.Lock()

    def _lingua(self) -> LanguageDetector:
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    # Low-accuracy mode (trigram models only) loads in tens of
                    # milliseconds instead of about two seconds; lingua documents it
                    # as reliable from about 120 characters, the chunk size below.
                    self._detector = (LanguageDetectorBuilder
                                      .from_languages(*DETECTOR_LANGUAGES)
                                      .with_low_accuracy_mode()
                                      .with_preloaded_language_models()
                                      .build())
        return self._detector

    def warm_up(self) -> None:
        self._lingua()

    def shares(self, text: str) -> list[LanguageShare]:
        """Languages in ``text`` with how many letters each holds, largest first."""
        counts: Counter[str] = Counter()
        chunks: list[str] = []
        pending = ""
        for paragraph in _PARAGRAPHS.split(text[:_MAX_DETECT_CHARS * 5]):
            if not paragraph.strip():
                continue
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
            if chunks and len(pending) < _MIN_CHUNK // 2:
                chunks[-1] = f"{chunks[-1]}\n{pending}"
            else:
                chunks.append(pending)
        for chunk, language in zip(chunks, self._classify(_sample(chunks)), strict=False):
            if language is not None:
                counts[language] += len(_ALPHA_NON_CJK.findall(chunk))
        return [LanguageShare(code, chars) for code, chars in counts.most_common() if chars]

    def _classify(self, chunks: list[str]) -> list[str | None]:
        if not chunks:
            return []
        detected = self._lingua().detect_languages_in_parallel_of(chunks)
        return [lang.iso_code_639_1.name.lower() if lang is not None else None
                for lang in detected]


def _sample(chunks: list[str]) -> list[str]:
    """All chunks, or an evenly spread subset when a long mail has very many (the
    unsampled ones are simply not counted: shares, not totals, decide)."""
    total = sum(len(c) for c in chunks)
    if len(chunks) <= _MAX_CHUNKS and total <= _MAX_DETECT_CHARS:
        return chunks
    step = max(len(chunks) / _MAX_CHUNKS, total / _MAX_DETECT_CHARS, 1.0)
    keep = {int(i * step) for i in range(int(len(chunks) / step))}
    return [c if i in keep else "" for i, c in enumerate(chunks)]
