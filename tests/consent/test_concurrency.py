"""Concurrent writers (threads and processes) keep one linear log: no gaps, no forks."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import func, select

import db
from consent import ConsentKeys, ConsentLedger, EventInput, Evidence
from consent.models import events

WRITERS = 4
EVENTS_PER_WRITER = 15


def _write(url: str, keys: ConsentKeys, writer: int) -> None:
    database = db.Database(url)
    ledger = ConsentLedger(database, keys)
    try:
        for i in range(EVENTS_PER_WRITER):
            if i % 5 == 4:
                ledger.make_signed_tree_head(force=True)
            ledger.record(
                EventInput(
                    f"w{writer}-{i}@example.com",
                    "marketing-email",
                    "granted",
                    "api",
                    Evidence(source=f"writer-{writer}"),
                )
            )
        ledger.record_many(
            [
                EventInput(f"w{writer}-batch{i}@example.com", "marketing-email", "granted", "api")
                for i in range(20)
            ]
        )
    finally:
        database.dispose()


def _check_linear(ledger: ConsentLedger, expected: int) -> None:
    with ledger.database.session() as session:
        count, low, high = session.execute(
            select(func.count(), func.min(events.c.seq), func.max(events.c.seq))
        ).one()
    assert (count, low, high) == (expected, 0, expected - 1)
    ledger.make_signed_tree_head()
    result = ledger.verify()
    assert result.ok, result.reason
    assert result.size == expected
    assert result.tree_heads_checked >= WRITERS * (EVENTS_PER_WRITER // 5)


def test_threads_append_one_linear_log(ledger: ConsentLedger, database_url: str) -> None:
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            _write(database_url, ledger.keys, writer)
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _check_linear(ledger, WRITERS * (EVENTS_PER_WRITER + 20))


@pytest.mark.slow
def test_processes_append_one_linear_log(ledger: ConsentLedger, database_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write, args=(database_url, ledger.keys, n)) for n in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * WRITERS
    _check_linear(ledger, WRITERS * (EVENTS_PER_WRITER + 20))
