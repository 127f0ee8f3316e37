"""The sendgate template scorer as the benchmarks call it: raw message in, score out.

Kept in one place so the evaluation, the calibration and the speed benchmark all
score messages the same way: ``rules.parse_eml`` then one reused ``rules.Scorer``
per process.
"""

from __future__ import annotations

import importlib
import multiprocessing
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Scripts run as `python bench/<name>.py`, which puts bench/ first on the path.
    sys.path.insert(1, str(REPO_ROOT))


class EngineUnavailableError(RuntimeError):
    """The rules package does not import, lacks the entry points, or its packs do not load."""


@dataclass(frozen=True)
class EngineScore:
    """One message's result.

    ``rule_weights`` maps each rule that hit to the weight it added in total
    (a rule may hit more than once); ``seconds`` is parse plus score time.
    """

    score: float
    threshold: float
    verdict: str
    rule_weights: dict[str, float]
    seconds: float

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.rule_weights))


class EngineScorer:
    """Parses and scores raw messages with one ``rules.Scorer`` built at construction."""

    def __init__(self) -> None:
        try:
            rules = importlib.import_module("rules")
        except ImportError as error:
            raise EngineUnavailableError(f"cannot import rules: {error}") from error
        missing = [name for name in ("Scorer", "parse_eml") if not hasattr(rules, name)]
        if missing:
            raise EngineUnavailableError(f"rules does not export {', '.join(missing)} yet")
        self._parse_eml = rules.parse_eml
        try:
            self._scorer = rules.Scorer()
        except Exception as error:
            # Packs and policy are data being edited; name what broke instead of a traceback.
            raise EngineUnavailableError(
                f"rules.Scorer() failed: {type(error).__name__}: {error}"
            ) from error

    def score_raw(self, raw: bytes) -> EngineScore:
        """Parse ``raw`` as an .eml and score it; errors from the engine propagate."""
        started = time.perf_counter()
        template = self._parse_eml(raw)
        result = self._scorer.score(template)
        seconds = time.perf_counter() - started
        weights: dict[str, float] = defaultdict(float)
        for hit in result.hits:
            weights[hit.rule] += float(hit.weight)
        return EngineScore(
            score=float(result.score),
            threshold=float(result.threshold),
            verdict=str(result.verdict),
            rule_weights=dict(weights),
            seconds=seconds,
        )

    def score_template(self, template: object) -> float:
        """Score an already-parsed ``rules.TemplateInput``; returns the score only."""
        return float(self._scorer.score(template).score)


_worker_engine: EngineScorer | None = None


def _init_worker(warm_up: bytes | None) -> None:
    global _worker_engine  # noqa: PLW0603 -- one scorer per worker process, built once
    _worker_engine = EngineScorer()
    if warm_up is not None:
        _worker_engine.score_raw(warm_up)


def _score_in_worker(raw: bytes) -> EngineScore | str:
    if _worker_engine is None:
        raise EngineUnavailableError("worker used before its scorer was built")
    # A failure is reported per message so one odd mail does not end the run.
    try:
        return _worker_engine.score_raw(raw)
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:300]


def score_many(
    raws: Sequence[bytes], workers: int = 1, warm_up: bytes | None = None
) -> list[EngineScore | str]:
    """Score raw messages in order; a message that fails yields its error text instead.

    With ``workers > 1`` a process pool is used, each worker building its own
    scorer (and scoring ``warm_up`` once, if given, so lazy set-up is not timed).
    Raises :class:`EngineUnavailableError` if the scorer cannot be built.
    """
    if workers <= 1:
        _init_worker(warm_up)
        return [_score_in_worker(raw) for raw in raws]
    # spawn, not fork: a forked copy of a process that already built a scorer can
    # inherit locks held by its threads and hang.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(warm_up,),
    ) as pool:
        return list(pool.map(_score_in_worker, raws, chunksize=8))
