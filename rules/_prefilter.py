"""Cheap substring prefilters for regular expressions run over whole messages.

Running a few hundred case-insensitive patterns over a 30 KB message costs tens of
milliseconds, while most of them cannot match because a literal they need is absent.
:func:`required_literals` reads a pattern's parse tree and returns literals of which at
least one must occur (lower-cased) for the pattern to match; the caller tests them with
``in`` on the lower-cased text first. The analysis is conservative: when in doubt it
returns ``None`` and the pattern is always run, so the prefilter never hides a match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

try:  # the parser is private to `re`; without it every pattern simply runs unfiltered
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - depends on the Python build
    _sre = None
    _sre_parse = None

try:  # characters `re.IGNORECASE` treats as equal although str.lower() keeps them apart
    from re._casefix import _EXTRA_CASES
except ImportError:  # pragma: no cover - depends on the Python build
    _EXTRA_CASES = None

# A literal shorter than this is too common to be worth testing, unless it holds a
# character that ordinary prose rarely uses ("@" of a mail address, "+" of a phone number).
_MIN_ASCII_LENGTH = 3
_RARE_CHARACTERS = frozenset("@#%&*+=<>[]{}|~^`\\")


def _score(options: frozenset[str]) -> int:
    return min(
        (len(o) * (1 if o.isascii() and not _RARE_CHARACTERS & set(o) else 3) for o in options),
        default=0,
    )


_MAX_OPTIONS = 16


def _class_chars(av: object) -> list[str] | None:
    """The characters of a small character class made only of literals ([ëe]), else None."""
    assert _sre is not None
    chars: list[str] = []
    for op, value in av:  # type: ignore[attr-defined]
        if op is not _sre.LITERAL:
            return None
        chars.append(chr(value))
    return chars if 0 < len(chars) <= 4 else None


class _CaseInsensitivePart(Exception):
    """A ``(?i:...)`` group in a pattern whose literals were to keep their case."""


def _sequence(
    items: list[tuple[object, object]], keep_case: bool = False
) -> frozenset[str] | None:
    """The best required literal set of a sequence of parse items: of its candidates,
    the one whose shortest option is longest (the first such)."""
    return max(_candidates(items, keep_case), key=_score, default=None)


def _candidates(
    items: list[tuple[object, object]], keep_case: bool = False
) -> list[frozenset[str]]:
    """Literal sets of a sequence of parse items, from each of which one must occur.

    Consecutive literals (and small literal classes, expanded) form a run; a run, a
    branch whose every alternative requires something, and the candidates of a group
    or of a repeat of at least once are candidates, in the order of the pattern.
    """
    assert _sre is not None
    found: list[frozenset[str]] = []
    run: set[str] = {""}

    def close_run() -> None:
        nonlocal run
        if run != {""}:
            found.append(frozenset(run if keep_case else (r.lower() for r in run)))
        run = {""}

    for op, av in items:
        if op is _sre.LITERAL:
            run = {r + chr(av) for r in run}  # type: ignore[arg-type]
            continue
        if op is _sre.IN:
            chars = _class_chars(av)
            if chars and len(run) * len(chars) <= _MAX_OPTIONS:
                run = {r + c for r in run for c in chars}
                continue
        close_run()
        if op is _sre.SUBPATTERN:
            if keep_case and av[1] & _sre.SRE_FLAG_IGNORECASE:  # type: ignore[index]
                raise _CaseInsensitivePart
            found.extend(_candidates(list(av[-1]), keep_case))  # type: ignore[index]
        elif op is _sre.BRANCH:
            branches = [_sequence(list(b), keep_case) for b in av[1]]  # type: ignore[index]
            if all(branches):
                found.append(frozenset().union(*branches))  # type: ignore[arg-type]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
            low, _high, inner = av  # type: ignore[misc]
            if low >= 1:
                found.extend(_candidates(list(inner), keep_case))
    close_run()
    return [options for options in found if options]


def required_literals(
    pattern: str, flags: int = 0, *, keep_common: bool = False, keep_case: bool = False
) -> frozenset[str] | None:
    """Lower-cased literals of which one must occur for ``pattern`` to match, or None.

    Literals too common in prose to be worth a test give None, unless ``keep_common``:
    a caller that tests few patterns on few texts still saves a scan with them.
    ``keep_case`` keeps the literals as written, to test on the text itself; a
    pattern that ignores case anywhere then gives None.
    """
    if _sre_parse is None:
        return None
    try:
        parsed = _sre_parse.parse(pattern, flags)
        if keep_case and parsed.state.flags & _sre.SRE_FLAG_IGNORECASE:
            return None
        options = _sequence(list(parsed), keep_case)
    except Exception:  # _CaseInsensitivePart, or a parse tree this reading does not know
        return None
    if not options:
        return None
    if not keep_common and any(_too_common(o) for o in options):
        return None
    return options


def _fold_table() -> dict[int, str] | None:
    if _EXTRA_CASES is None:
        return None
    table: dict[int, str] = {0x307: ""}  # "İ".lower() adds it; re's own lower() does not
    for code, others in _EXTRA_CASES.items():
        canonical = min(code, *others)
        if canonical != code:
            table[code] = chr(canonical)
    return table


_FOLD_TABLE = _fold_table()


def fold_case(text: str) -> str:
    """``text`` lower-cased so that whatever ``re.IGNORECASE`` takes as the same letter
    (ſ and s, ς and σ, İ and i, ...) is the same character: a literal that a pattern
    matches in ``text`` then always occurs in ``fold_case(text)``. Character by
    character, so it may be applied to the literal and to the text separately."""
    lowered = text.lower()
    if lowered.isascii() or _FOLD_TABLE is None:
        return lowered
    return lowered.translate(_FOLD_TABLE)


def required_literal_sets(
    pattern: str, flags: int = 0, *, keep_case: bool = False
) -> list[frozenset[str]]:
    """Every literal set of which one member must occur for ``pattern`` to match (all
    of them, common literals included; ``(?:won|receive) [$€]`` gives two sets).
    Lower-cased unless ``keep_case``, as for :func:`required_literals`; an empty list
    when nothing is known."""
    if _sre_parse is None:
        return []
    try:
        parsed = _sre_parse.parse(pattern, flags)
        if keep_case and parsed.state.flags & _sre.SRE_FLAG_IGNORECASE:
            return []
        return _candidates(list(parsed), keep_case)
    except Exception:  # _CaseInsensitivePart, or a parse tree this reading does not know
        return []


def folded_literal_sets(pattern: str, flags: int = 0) -> list[frozenset[str]]:
    """:func:`required_literal_sets` passed through :func:`fold_case`: to match ``text``,
    ``pattern`` needs a member of every set to occur in ``fold_case(text)``."""
    if _FOLD_TABLE is None:
        return []
    return [frozenset(fold_case(literal) for literal in literals)
            for literals in required_literal_sets(pattern, flags)]


def _too_common(literal: str) -> bool:
    return (
        literal.isascii()
        and len(literal) < _MIN_ASCII_LENGTH
        and not any(c in _RARE_CHARACTERS for c in literal)
    )


@dataclass(frozen=True)
class FilteredPattern:
    """A compiled pattern with the literals that must occur for it to match."""

    regex: re.Pattern[str]
    literals: frozenset[str] | None

    @classmethod
    def compile(cls, pattern: str, flags: int = 0) -> FilteredPattern:
        return cls(re.compile(pattern, flags), required_literals(pattern, flags))

    def search(self, text: str, lowered: str) -> re.Match[str] | None:
        """Search ``text``; ``lowered`` is ``text.lower()``, computed once by the caller."""
        if self.literals is not None and not any(map(lowered.__contains__, self.literals)):
            return None
        return self.regex.search(text)
