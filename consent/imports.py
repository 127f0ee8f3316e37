"""Background imports: a list is accepted at once and imported while the caller polls.

A list of a million rows takes minutes to import, longer than any HTTP request
should last. :meth:`ImportQueue.submit` seals the upload on disk (it holds
addresses and IPs), checks its encoding and header so a malformed file is
refused at once, and records a ``queued`` job. :meth:`ImportQueue.run` imports
it batch by batch, writing the job's counts and rejected rows in each batch's
own transaction. A job whose runner died (its heartbeat went stale) is resumed
by the next :meth:`ImportQueue.run_pending` after the last settled line, so no
row is imported twice and none is lost. The sealed file and its key are deleted
when the job ends.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

import db
from consent import crypto
from consent.deliverability import require_resolver
from consent.errors import ConsentError, ImportFormatError, InvalidInput
from consent.importer import BatchProgress, ignored_columns, run_import, scan
from consent.models import import_rejections, imports
from consent.records import ImportJobRecord, RejectedRow
from consent.sealed_file import SealedFileError, open_sealed, seal

if TYPE_CHECKING:
    from consent.ledger import ConsentLedger

_log = logging.getLogger(__name__)
# A running job whose batches stopped this long ago is taken to have lost its runner.
STALE_AFTER = timedelta(minutes=2)
# A job that stopped this many times without finishing is failed, not started again:
# whatever stops it would stop the next run too.
MAX_ATTEMPTS = 3


class ImportNotFound(ConsentError):
    """No import with that id."""


class ImportQueue:
    """Imports submitted lists in the background; uploads wait sealed in ``spool_dir``."""

    def __init__(self, ledger: ConsentLedger, spool_dir: Path) -> None:
        self.ledger = ledger
        self.spool_dir = spool_dir

    def _path(self, import_id: str) -> Path:
        return self.spool_dir / f"{import_id}.sealed"

    def _key_context(self, import_id: str) -> str:
        # Wrapped like a subject key, under its own name so the two can never be swapped.
        return f"import:{import_id}"

    def submit(
        self,
        source: IO[bytes],
        purpose: str,
        *,
        actor: str,
        check_deliverability: bool = False,
    ) -> ImportJobRecord:
        """Seal ``source`` and queue it. Raises :class:`ImportFormatError` (nothing is
        kept) when the file is not UTF-8 CSV with an ``email`` column."""
        ledger = self.ledger
        with ledger.database.session() as session:
            ledger._require_purpose(session, purpose, "purpose")
        if check_deliverability:
            require_resolver(ledger.dns_resolver)  # refused now, not when the job runs
        import_id = secrets.token_hex(16)
        key = crypto.new_data_key()
        path = self._path(import_id)
        self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            seal(source, path, key, import_id)
            with open_sealed(path, key, import_id) as sealed:
                scanned = scan(sealed)
            now = db.utcnow()
            with ledger.database.session() as session:
                session.execute(
                    insert(imports).values(
                        id=import_id,
                        purpose=purpose,
                        actor=actor,
                        check_deliverability=check_deliverability,
                        status="queued",
                        total_lines=scanned.lines,
                        lines_read=0,
                        accepted=0,
                        duplicates=0,
                        without_evidence=0,
                        rejected=0,
                        ignored_columns=json.dumps(ignored_columns(scanned.columns)),
                        error=None,
                        attempts=0,
                        wrapped_key=crypto.wrap_key(
                            ledger.keys.master_key, self._key_context(import_id), key
                        ),
                        created_at=now,
                    )
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self.get(import_id)

    def run(self, import_id: str) -> ImportJobRecord | None:
        """Run (or resume) one job; None when it is finished or another runner has it."""
        now = db.utcnow()
        with self.ledger.database.session() as session:
            worn_out = session.execute(
                update(imports)
                .where(
                    imports.c.id == import_id,
                    _runnable(now),
                    imports.c.attempts >= MAX_ATTEMPTS,
                )
                .values(
                    status="failed",
                    finished_at=now,
                    wrapped_key=None,
                    error=f"the import stopped {MAX_ATTEMPTS} times before finishing; "
                    "the service log says why",
                )
            ).rowcount  # type: ignore[attr-defined]
            claimed = session.execute(
                update(imports)
                .where(imports.c.id == import_id, _runnable(now))
                .values(
                    status="running",
                    heartbeat_at=now,
                    attempts=imports.c.attempts + 1,
                    started_at=func.coalesce(imports.c.started_at, now),
                )
            ).rowcount  # type: ignore[attr-defined]
            row = session.execute(select(imports).where(imports.c.id == import_id)).first()
        if row is None:
            raise ImportNotFound(f"no import {import_id!r}")
        if worn_out:
            self._path(import_id).unlink(missing_ok=True)
        if not claimed:
            return None
        try:
            key = crypto.unwrap_key(
                self.ledger.keys.master_key, self._key_context(import_id), row.wrapped_key
            )
            with open_sealed(self._path(import_id), key, import_id) as sealed:
                run_import(
                    self.ledger,
                    sealed,
                    row.purpose,
                    actor=row.actor,
                    check_deliverability=row.check_deliverability,
                    batch_size=self.ledger.settings.import_batch_size,
                    skip_lines=row.lines_read,
                    on_batch=lambda session, progress: _record_progress(
                        session, import_id, progress
                    ),
                )
        except (ImportFormatError, InvalidInput, SealedFileError, FileNotFoundError) as exc:
            # The file itself cannot be imported: rows settled so far stay, the rest never will.
            self._finish(import_id, "failed", str(exc))
        else:
            self._finish(import_id, "done", None)
        return self.get(import_id)

    def run_pending(self) -> list[str]:
        """Run every queued job and resume every stalled one; returns their ids."""
        now = db.utcnow()
        with self.ledger.database.session() as session:
            ids = (
                session.execute(
                    select(imports.c.id).where(_runnable(now)).order_by(imports.c.created_at)
                )
                .scalars()
                .all()
            )
        ran = []
        for import_id in ids:
            if self.run(import_id) is not None:
                ran.append(import_id)
        return ran

    def _finish(self, import_id: str, status: str, error: str | None) -> None:
        with self.ledger.database.session() as session:
            session.execute(
                update(imports)
                .where(imports.c.id == import_id)
                .values(status=status, error=error, finished_at=db.utcnow(), wrapped_key=None)
            )
        self._path(import_id).unlink(missing_ok=True)
        _log.info("import %s %s", import_id, status)

    def get(self, import_id: str) -> ImportJobRecord:
        with self.ledger.database.session() as session:
            row = session.execute(select(imports).where(imports.c.id == import_id)).first()
        if row is None:
            raise ImportNotFound(f"no import {import_id!r}")
        return _record(row)

    def recent(self, limit: int = 50) -> list[ImportJobRecord]:
        with self.ledger.database.session() as session:
            rows = session.execute(
                select(imports).order_by(imports.c.created_at.desc()).limit(limit)
            ).all()
        return [_record(row) for row in rows]

    def rejections(
        self, import_id: str, *, offset: int = 0, limit: int = 1000
    ) -> list[RejectedRow]:
        """Rejected rows of a job in line order (a page of them)."""
        self.get(import_id)
        with self.ledger.database.session() as session:
            rows = session.execute(
                select(import_rejections.c.line, import_rejections.c.reason)
                .where(import_rejections.c.import_id == import_id)
                .order_by(import_rejections.c.line)
                .offset(offset)
                .limit(limit)
            ).all()
        return [RejectedRow(int(line), reason) for line, reason in rows]


def _runnable(now: datetime) -> Any:
    return or_(
        imports.c.status == "queued",
        (imports.c.status == "running") & (imports.c.heartbeat_at < now - STALE_AFTER),
    )


def _record_progress(session: Session, import_id: str, progress: BatchProgress) -> None:
    session.execute(
        update(imports)
        .where(imports.c.id == import_id)
        .values(
            lines_read=progress.lines_read,
            accepted=imports.c.accepted + progress.accepted,
            duplicates=imports.c.duplicates + progress.duplicates,
            without_evidence=imports.c.without_evidence + progress.without_evidence,
            rejected=imports.c.rejected + len(progress.rejected),
            heartbeat_at=db.utcnow(),
        )
    )
    _insert_rejections(session, import_id, progress.rejected)


def _insert_rejections(session: Session, import_id: str, rows: Sequence[RejectedRow]) -> None:
    if rows:
        session.execute(
            insert(import_rejections),
            [{"import_id": import_id, "line": r.line, "reason": r.reason} for r in rows],
        )


def _record(row: Any) -> ImportJobRecord:
    return ImportJobRecord(
        id=row.id,
        purpose=row.purpose,
        actor=row.actor,
        status=row.status,
        total_lines=int(row.total_lines),
        lines_read=int(row.lines_read),
        accepted=int(row.accepted),
        duplicates=int(row.duplicates),
        without_evidence=int(row.without_evidence),
        rejected=int(row.rejected),
        ignored_columns=json.loads(row.ignored_columns),
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
