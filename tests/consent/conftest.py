"""A consent ledger on each backend's fresh database, with throw-away keys."""

from __future__ import annotations

import pytest

import db
from consent import ConsentKeys, ConsentLedger, ConsentSettings


@pytest.fixture(scope="session")
def consent_keys() -> ConsentKeys:
    return ConsentKeys.generate()


@pytest.fixture
def ledger(database: db.Database, consent_keys: ConsentKeys) -> ConsentLedger:
    return ConsentLedger(
        database,
        consent_keys,
        ConsentSettings(
            base_url="https://gate.example.org", unsubscribe_mailto="unsub@example.org"
        ),
    )


@pytest.fixture
def sqlite_ledger(sqlite_database: db.Database, consent_keys: ConsentKeys) -> ConsentLedger:
    return ConsentLedger(sqlite_database, consent_keys)
