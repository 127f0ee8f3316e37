"""One scorer for the scoring tests: building it loads every pack and pipeline."""

from __future__ import annotations

import pytest

import rules


@pytest.fixture(scope="session")
def scorer() -> rules.Scorer:
    return rules.Scorer()
