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
    """Classifies text by paragraph with two lingua detectors built once.

    The low-accuracy detector (trigram models) loads in tens of milliseconds and
    is reliable from about 120 characters, the chunk size used here. Shorter
    text (a short mail, a lone subject) needs the high-accuracy models, which
    take about two seconds to load; they load on a background thread (lingua
    releases the GIL while loading) and only a short text scored before they
    are ready waits for them.
    """

    def __init__(self) -> None:
        self._fast: LanguageDetector | None = None
        self._accurate: LanguageDetector | None = None
        self._accurate_ready = threading.Event()
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None

    def warm_up(self) -> None:
        self._fast_detector()
        self._start_accurate_loader()

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

    def _start_accurate_loader(self) -> None:
        with self._lock:
            if self._loader is None:
                self._loader = threading.Thread(target=self._load_accurate,
                                                name="lingua-models", daemon=True)
                self._loader.start()

    def _load_accurate(self) -> None:
        try:
            self._accurate = (LanguageDetectorBuilder
                              .from_languages(*DETECTOR_LANGUAGES)
                              .with_preloaded_language_models()
                              .build())
        finally:
            self._accurate_ready.set()

    def _accurate_detector(self) -> LanguageDetector:
        self._start_accurate_loader()
        self._accurate_ready.wait()
        # If loading failed, the fast detector is the best there is.
        return self._accurate if self._accurate is not None else self._fast_detector()

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
        for chunk, language in zip(chunks, self._classify(_sample(chunks)), strict=True):
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


def _sample(chunks: list[str]) -> list[str]:
    """All chunks, or an evenly spread subset when a long mail has very many (the
    unsampled ones are simply not counted: shares, not totals, decide)."""
    total = sum(len(c) for c in chunks)
    if len(chunks) <= _MAX_CHUNKS and total <= _MAX_DETECT_CHARS:
        return chunks
    step = max(len(chunks) / _MAX_CHUNKS, total / _MAX_DETECT_CHARS, 1.0)
    keep = {int(i * step) for i in range(int(len(chunks) / step))}
    return [c if i in keep else "" for i, c in enumerate(chunks)]
