"""Classification metrics for spam scores, in plain Python.

Scores are "higher means more spam" (the engine's and SpamAssassin's alike);
labels are True for spam.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def roc_auc(scores: Sequence[float], is_spam: Sequence[bool]) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic, ties counted half.

    It is the probability that a random spam scores above a random ham. Raises
    ``ValueError`` if the lengths differ or either class is empty.
    """
    if len(scores) != len(is_spam):
        raise ValueError(f"{len(scores)} scores but {len(is_spam)} labels")
    positives = sum(1 for label in is_spam if label)
    negatives = len(is_spam) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs at least one spam and one ham message")
    # Rank sum with average ranks for ties: O(n log n) instead of all pairs.
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1
        rank_sum += average_rank * sum(1 for k in range(i, j + 1) if is_spam[order[k]])
        i = j + 1
    u_statistic = rank_sum - positives * (positives + 1) / 2
    return u_statistic / (positives * negatives)


@dataclass(frozen=True)
class ThresholdMetrics:
    """Confusion counts and derived rates when ``score >= threshold`` means spam."""

    threshold: float
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        spam = self.true_positives + self.false_negatives
        return self.true_positives / spam if spam else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    @property
    def false_positive_rate(self) -> float:
        ham = self.false_positives + self.true_negatives
        return self.false_positives / ham if ham else 0.0


def at_threshold(
    scores: Sequence[float], is_spam: Sequence[bool], threshold: float
) -> ThresholdMetrics:
    """Count the confusion matrix for ``score >= threshold`` as the spam verdict."""
    if len(scores) != len(is_spam):
        raise ValueError(f"{len(scores)} scores but {len(is_spam)} labels")
    tp = fp = tn = fn = 0
    for score, spam in zip(scores, is_spam, strict=True):
        flagged = score >= threshold
        if flagged and spam:
            tp += 1
        elif flagged:
            fp += 1
        elif spam:
            fn += 1
        else:
            tn += 1
    return ThresholdMetrics(threshold, tp, fp, tn, fn)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) by linear interpolation between order statistics."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
