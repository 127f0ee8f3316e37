"""Background imports: sealed uploads, progress in each batch's transaction, resumption."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

import consent.imports
import db
from consent import (
    ConsentKeys,
    ConsentLedger,
    ConsentSettings,
    ImportFormatError,
    ImportNotFound,
    ImportQueue,
)
from consent.models import events, imports

PURPOSE = "marketing-email"


@pytest.fixture
def queue(database: db.Database, tmp_path: Path) -> ImportQueue:
    ledger = ConsentLedger(database, ConsentKeys.generate(), ConsentSettings(import_batch_size=3))
    return ImportQueue(ledger, tmp_path / "spool")


def listing(rows: int, *, bad_every: int = 0) -> bytes:
    lines = ["email,consented_at,source,ip"]
    for i in range(rows):
        email = f"not-an-address-{i}" if bad_every and i % bad_every == 0 else f"p{i}@shop.example"
        lines.append(f"{email},2025-05-01,fair,198.51.100.{i % 200}")
    return ("\n".join(lines) + "\n").encode()


def test_a_submitted_list_waits_sealed_and_is_imported(queue: ImportQueue) -> None:
    job = queue.submit(io.BytesIO(listing(10, bad_every=4)), PURPOSE, actor="api:ann")
    assert (job.status, job.total_lines, job.lines_read) == ("queued", 11, 0)
    [sealed] = queue.spool_dir.iterdir()
    assert b"shop.example" not in sealed.read_bytes() and b"198.51.100" not in sealed.read_bytes()
    assert oct(sealed.stat().st_mode & 0o777) == "0o600"

    done = queue.run(job.id)
    assert done is not None and done.status == "done"
    assert (done.accepted, done.rejected, done.lines_read) == (7, 3, 11)
    assert done.as_dict()["progress"] == {"lines": 10, "lines_read": 10}
    assert [r.line for r in queue.rejections(job.id)] == [2, 6, 10]
    assert queue.rejections(job.id, offset=1, limit=1)[0].line == 6
    assert list(queue.spool_dir.iterdir()) == []  # the upload is gone with its key
    with queue.ledger.database.session() as session:
        assert session.execute(select(imports.c.wrapped_key)).scalar_one() is None
    assert queue.run(job.id) is None  # finished jobs are not run again
    assert queue.ledger.state("p1@shop.example")[0].valid


def test_a_malformed_list_is_refused_at_once_and_nothing_is_kept(queue: ImportQueue) -> None:
    with pytest.raises(ImportFormatError) as caught:
        queue.submit(io.BytesIO(b"name,phone\nann,1\n"), PURPOSE, actor="api:ann")
    assert caught.value.line == 1
    with pytest.raises(ImportFormatError):
        queue.submit(io.BytesIO(b"email\n\xff\xfe@x.example\n"), PURPOSE, actor="api:ann")
    assert list(queue.spool_dir.iterdir()) == []
    assert queue.recent() == []
    with pytest.raises(ImportNotFound):
        queue.get("0" * 32)


def test_an_interrupted_import_resumes_after_the_last_settled_line(
    queue: ImportQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = queue.submit(io.BytesIO(listing(20, bad_every=7)), PURPOSE, actor="api:ann")
    real = consent.imports._record_progress
    calls = 0

    def dies_in_the_third_batch(session, import_id, progress) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("worker killed")
        real(session, import_id, progress)

    monkeypatch.setattr(consent.imports, "_record_progress", dies_in_the_third_batch)
    with pytest.raises(RuntimeError):
        queue.run(job.id)
    stalled = queue.get(job.id)
    assert stalled.status == "running" and 0 < stalled.lines_read < 21
    # Another runner leaves it alone while its heartbeat is fresh ...
    assert queue.run_pending() == []
    # ... and takes it over once the heartbeat is stale.
    with queue.ledger.database.session() as session:
        session.execute(
            update(imports).values(heartbeat_at=db.utcnow() - consent.imports.STALE_AFTER * 2)
        )
    monkeypatch.setattr(consent.imports, "_record_progress", real)
    assert queue.run_pending() == [job.id]
    done = queue.get(job.id)
    assert (done.status, done.accepted, done.rejected, done.duplicates) == ("done", 17, 3, 0)
    assert [r.line for r in queue.rejections(job.id)] == [2, 9, 16]
    with queue.ledger.database.session() as session:
        assert session.execute(select(func.count()).select_from(events)).scalar_one() == 17
    assert queue.ledger.verify().ok


def test_a_list_the_import_cannot_finish_fails_with_the_reason(queue: ImportQueue) -> None:
    # Each physical line is short, but one quoted field spans 70,000 of them.
    good = b"".join(b"ok%d@shop.example\n" % i for i in range(4))
    body = b"email\n" + good + b'"' + b"x\n" * 70_000 + b'"\n'
    job = queue.submit(io.BytesIO(body), PURPOSE, actor="api:ann")
    failed = queue.run(job.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and "malformed CSV" in failed.error
    assert failed.accepted == 3  # the batch committed before the fault stays
    assert list(queue.spool_dir.iterdir()) == []
    assert failed.finished_at is not None and failed.finished_at - failed.created_at < timedelta(
        minutes=1
    )


def test_an_import_that_keeps_stopping_is_failed_not_retried_forever(
    queue: ImportQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = queue.submit(io.BytesIO(listing(10)), PURPOSE, actor="api:ann")

    def always_dies(session, import_id, progress) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(consent.imports, "_record_progress", always_dies)
    for _ in range(consent.imports.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            queue.run_pending()
        with queue.ledger.database.session() as session:
            session.execute(
                update(imports).values(heartbeat_at=db.utcnow() - consent.imports.STALE_AFTER * 2)
            )
    assert queue.run_pending() == []
    failed = queue.get(job.id)
    assert failed.status == "failed" and "stopped 3 times" in (failed.error or "")
    assert list(queue.spool_dir.iterdir()) == []


def test_an_upload_spool_keeps_nothing_readable_on_disk(tmp_path: Path) -> None:
    from consent.sealed_file import CHUNK_BYTES, EncryptedSpool

    body = listing(60_000)  # a few chunks
    assert len(body) > 2 * CHUNK_BYTES
    spool = EncryptedSpool(tmp_path)
    for start in range(0, len(body), 50_000):
        spool.write(body[start : start + 50_000])
    [spooled] = tmp_path.iterdir()
    assert b"shop.example" not in spooled.read_bytes()
    spool.seek(0)  # as a form parser does once the field is written
    assert list(tmp_path.iterdir()) == []  # unlinked; only the open handle can read it
    assert spool.read() == body
    spool.seek(0)
    assert spool.read(5) == b"email"
    spool.close()
