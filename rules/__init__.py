"""Template scoring: spam-signal rule packs, structural checks, regional/legal fit.

Public API::

    score_template(template, *, policy=None) -> ScoreResult
    Scorer(*, policy=None, packs_dir=None, preload_languages=("en",),
           preload_short_text_models=False).score(template, *, policy=None) -> ScoreResult
    parse_eml(data: bytes) -> TemplateInput
    load_packs(directory=None) -> RuleSet       (raises PackError)
    ScoringPolicy.load(path) / ScoringPolicy()  (raises PolicyError)

Rule packs (``rules/packs/*.yaml``) and the default policy (``rules/policy.yaml``)
are data; the engine never hard-codes a weight or a threshold.
"""

from __future__ import annotations

import threading

from rules._eml import parse_eml
from rules._packs import PackError, Rule, RuleSet, load_packs
from rules._policy import PolicyError, ScoringPolicy
from rules._scorer import Scorer
from rules.model import (
    Finding,
    Hit,
    Location,
    ParsedTemplate,
    ScoreResult,
    TemplateInput,
)

__all__ = [
    "Finding",
    "Hit",
    "Location",
    "PackError",
    "ParsedTemplate",
    "PolicyError",
    "Rule",
    "RuleSet",
    "ScoreResult",
    "Scorer",
    "ScoringPolicy",
    "TemplateInput",
    "load_packs",
    "parse_eml",
    "score_template",
]

_default_scorer: Scorer | None = None
_default_lock = threading.Lock()


def score_template(template: TemplateInput, *, policy: ScoringPolicy | None = None) -> ScoreResult:
    """Score ``template`` with the packaged rule packs and ``policy`` (default:
    ``rules/policy.yaml``). The first call builds a shared :class:`Scorer`."""
    global _default_scorer  # noqa: PLW0603 - one lazily built engine per process
    if _default_scorer is None:
        with _default_lock:
            if _default_scorer is None:
                _default_scorer = Scorer()
    return _default_scorer.score(template, policy=policy)
