"""How well does the template scorer separate spam from ham, next to SpamAssassin?

Scores the SpamAssassin public corpus (all 6046 messages, or a stratified sample
of 400 with --quick) and the project's labelled marketing set with the sendgate
engine and with a local SpamAssassin (spamd, network tests off), then prints
ROC AUC and precision / recall / F1 at each scorer's own threshold side by side.

Usage: .venv/bin/python bench/evaluate_scorer.py [--quick] [--sample N]
           [--no-spamassassin] [--workers N] [--scores-out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import corpus
import metrics
from engine import EngineScorer, EngineUnavailableError, score_many
from spamassassin import SpamAssassinUnavailableError, running_spamd, spamassassin_installed

QUICK_SAMPLE = 400
DEFAULT_SCORES_OUT = corpus.REPO_ROOT / "bench" / ".data" / "evaluation-scores.jsonl"


@dataclass(frozen=True)
class ScoredSet:
    """Scores of one scorer on one message set; ``failed`` lists ids it could not score."""

    scorer: str
    set_name: str
    ids: list[str]
    is_spam: list[bool]
    scores: list[float]
    threshold: float
    failed: list[tuple[str, str]]


def score_with_engine(
    messages: Sequence[corpus.CorpusMessage], set_name: str, workers: int
) -> tuple[ScoredSet, dict[str, tuple[str, ...]]]:
    """Score every message with the engine; returns the set and each id's rule hits."""
    results = score_many([m.raw for m in messages], workers)
    ids, is_spam, scores, failed = [], [], [], []
    rule_hits: dict[str, tuple[str, ...]] = {}
    threshold = float("nan")
    for message, result in zip(messages, results, strict=True):
        if isinstance(result, str):
            failed.append((message.id, result))
            continue
        threshold = result.threshold
        ids.append(message.id)
        is_spam.append(message.label == "spam")
        scores.append(result.score)
        rule_hits[message.id] = result.rule_ids
    return ScoredSet("sendgate", set_name, ids, is_spam, scores, threshold, failed), rule_hits


def score_with_spamassassin(messages: Sequence[corpus.CorpusMessage], set_name: str) -> ScoredSet:
    """Score every message with a private spamd (started and stopped here)."""
    with running_spamd(children=2) as server:
        results = server.score_many([m.raw for m in messages])
    return ScoredSet(
        "SpamAssassin",
        set_name,
        [m.id for m in messages],
        [m.label == "spam" for m in messages],
        [r.score for r in results],
        results[0].threshold if results else 5.0,
        [],
    )


def print_table(rows: list[ScoredSet]) -> None:
    header = (
        f"{'set':<22} {'scorer':<13} {'n':>5} {'spam':>5} {'AUC':>6} {'thresh':>7} "
        f"{'prec':>6} {'recall':>6} {'F1':>6} {'FPR':>6} {'fail':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        n_spam = sum(row.is_spam)
        both_classes = 0 < n_spam < len(row.is_spam)
        auc = f"{metrics.roc_auc(row.scores, row.is_spam):.3f}" if both_classes else "  n/a"
        m = metrics.at_threshold(row.scores, row.is_spam, row.threshold)
        print(
            f"{row.set_name:<22} {row.scorer:<13} {len(row.ids):>5} {n_spam:>5} {auc:>6} "
            f"{row.threshold:>7.2f} {m.precision:>6.3f} {m.recall:>6.3f} {m.f1:>6.3f} "
            f"{m.false_positive_rate:>6.3f} {len(row.failed):>5}"
        )


def subset(row: ScoredSet, name: str, keep: Sequence[bool]) -> ScoredSet:
    picked = [i for i, k in enumerate(keep) if k]
    return ScoredSet(
        row.scorer,
        name,
        [row.ids[i] for i in picked],
        [row.is_spam[i] for i in picked],
        [row.scores[i] for i in picked],
        row.threshold,
        [],
    )


def print_rule_report(
    scored: ScoredSet, rule_hits: dict[str, tuple[str, ...]], limit: int = 12
) -> None:
    """Which rules fire on ham (false-positive sources) and which on spam."""
    spam_counts: Counter[str] = Counter()
    ham_counts: Counter[str] = Counter()
    for message_id, spam in zip(scored.ids, scored.is_spam, strict=True):
        (spam_counts if spam else ham_counts).update(rule_hits.get(message_id, ()))
    n_spam = max(1, sum(scored.is_spam))
    n_ham = max(1, len(scored.is_spam) - sum(scored.is_spam))
    print(f"\nRules hitting most often on {scored.set_name} (share of spam / share of ham):")
    for rule, _ in (spam_counts + ham_counts).most_common(limit):
        spam_share = spam_counts[rule] / n_spam
        ham_share = ham_counts[rule] / n_ham
        print(f"  {rule:<40} spam {spam_share:6.1%}   ham {ham_share:6.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"stratified {QUICK_SAMPLE} sample")
    parser.add_argument("--sample", type=int, help="stratified sample of this many messages")
    parser.add_argument("--no-spamassassin", action="store_true", help="skip the baseline")
    parser.add_argument("--workers", type=int, default=2, help="engine processes (default 2)")
    parser.add_argument("--scores-out", type=Path, default=DEFAULT_SCORES_OUT)
    args = parser.parse_args(argv)

    try:
        sa_messages = corpus.load_spamassassin(
            args.sample or (QUICK_SAMPLE if args.quick else None)
        )
    except corpus.CorpusMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sets = [("spamassassin-corpus", sa_messages)]
    try:
        sets.append(("labelled-marketing", list(corpus.iter_labelled())))
    except corpus.CorpusMissingError as error:
        print(f"labelled set skipped: {error}", file=sys.stderr)

    try:
        # Build one scorer up front so a broken pack stops the run with its own message
        # instead of a dead worker pool.
        EngineScorer()
    except EngineUnavailableError as error:
        print(f"error: the sendgate scorer is not usable: {error}", file=sys.stderr)
        return 2

    rows: list[ScoredSet] = []
    reports: list[tuple[ScoredSet, dict[str, tuple[str, ...]]]] = []
    for set_name, messages in sets:
        started = time.perf_counter()
        engine_row, rule_hits = score_with_engine(messages, set_name, args.workers)
        print(
            f"sendgate scored {len(messages)} messages of {set_name} "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        rows.append(engine_row)
        reports.append((engine_row, rule_hits))
        if not args.no_spamassassin:
            if not spamassassin_installed():
                print("SpamAssassin not installed: baseline skipped", file=sys.stderr)
            else:
                started = time.perf_counter()
                try:
                    rows.append(score_with_spamassassin(messages, set_name))
                except SpamAssassinUnavailableError as error:
                    print(f"SpamAssassin baseline skipped: {error}", file=sys.stderr)
                else:
                    print(
                        f"SpamAssassin scored {len(messages)} messages of {set_name} "
                        f"in {time.perf_counter() - started:.1f} s",
                        file=sys.stderr,
                    )

    # Break the corpus down by group and the labelled set by language.
    detail: list[ScoredSet] = []
    for row in rows:
        groups = sorted({i.split("/", 1)[0] for i in row.ids})
        if row.set_name == "labelled-marketing":
            for group in groups:
                keep = [i.startswith(group + "/") for i in row.ids]
                detail.append(subset(row, f"  lang {group}", keep))
        else:
            for group in groups:
                keep = [i.startswith(group + "/") for i in row.ids]
                detail.append(subset(row, f"  {group}", keep))

    print()
    print_table(rows)
    print("\nBy corpus group / language (AUC where both classes are present):")
    print_table(sorted(detail, key=lambda r: (r.set_name, r.scorer)))
    for engine_row, rule_hits in reports:
        print_rule_report(engine_row, rule_hits)
        for message_id, reason in engine_row.failed[:5]:
            print(f"  failed {message_id}: {reason}")

    args.scores_out.parent.mkdir(parents=True, exist_ok=True)
    with args.scores_out.open("w", encoding="utf-8") as out:
        for row in rows:
            for message_id, spam, score in zip(row.ids, row.is_spam, row.scores, strict=True):
                record = {
                    "scorer": row.scorer,
                    "set": row.set_name,
                    "id": message_id,
                    "spam": spam,
                    "score": score,
                    "threshold": row.threshold,
                }
                out.write(json.dumps(record) + "\n")
    print(f"\nper-message scores written to {args.scores_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
