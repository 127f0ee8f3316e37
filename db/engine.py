"""Engine construction, the per-process :class:`Database` handle and serialised sections."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db.errors import DatabaseUnavailable, InvalidDatabaseURL

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def parse_database_url(url: str | URL) -> URL:
    """Parse and check a database URL; raises :class:`InvalidDatabaseURL` naming the problem."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidDatabaseURL(f"cannot parse database URL: {exc}") from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise InvalidDatabaseURL(
            f"unsupported database backend {parsed.get_backend_name()!r}; "
            f"use one of: {', '.join(SUPPORTED_BACKENDS)}"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # The psycopg 3 driver is the one the `postgres` extra installs.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact(url: str | URL) -> str:
    """The URL as it may appear in logs and error messages: password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 128 MiB of page cache instead of SQLite's 2 MiB: bulk imports and tree appends
    # revisit the same index pages, and re-reading them dominated their wall time.
    cursor.execute("PRAGMA cache_size=-131072")
    # Checkpoint the WAL every 64 MiB instead of every 4 MiB: a batch of appends writes
    # several MiB, so the default fsynced the database file on nearly every commit
    # (measured: 100k ledger appends in batches of 1000 went from ~4,300 to ~5,800/s).
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    # Pages beyond the cache are read through a memory map (the OS page cache) instead of
    # one read() system call each: a million-subject ledger outgrows any fixed page cache.
    cursor.execute("PRAGMA mmap_size=1073741824")
    # Deleted rows are overwritten with zeros, not left in free space: erasing a subject
    # deletes its data key, and that key must not linger in the file (see scrub_deleted).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str | URL, *, echo: bool = False, pool_size: int | None = None) -> Engine:
    """Create an engine for a supported URL, with SQLite in WAL mode and foreign keys on."""
    parsed = parse_database_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


class Database:
    """One process's handle on the database: the engine and a session factory.

    Sessions do not expire objects on commit, so results can be returned from a
    ``session()`` block and read after it closed.
    """

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = parse_database_url(url)
        self.engine = make_engine(self.url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @property
    def display_url(self) -> str:
        return redact(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends and rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        """Raise :class:`DatabaseUnavailable` unless a trivial query succeeds."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(
                f"database {self.display_url} is unreachable: {_first_line(exc)}"
            ) from None

    def scrub_deleted(self, tables: Sequence[str], *, wait_seconds: float = 2.0) -> bool:
        """Push rows already deleted from ``tables`` out of the database's files.

        Call it after the deleting transaction committed. SQLite zeroes deleted
        rows in place (``secure_delete``); here the write-ahead log, which still
        holds the pages as they were, is checkpointed and truncated. PostgreSQL
        keeps deleted rows until VACUUM prunes them, so the tables are vacuumed.
        Returns False when SQLite could not finish within ``wait_seconds`` (a
        long-running reader holds old pages); the next checkpoint completes it.
        """
        known = {table for table in tables if table.isidentifier()}
        if known != set(tables):
            raise ValueError("scrub_deleted takes table names")
        if self.backend == "sqlite":
            # On the driver connection, outside any transaction SQLAlchemy would begin.
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
                try:
                    busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                finally:
                    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                    cursor.close()
            finally:
                raw.close()
            return not busy
        # VACUUM cannot run inside a transaction.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # Names were checked to be identifiers above; they come from table metadata.
            conn.exec_driver_sql(f"VACUUM {', '.join(sorted(known))}")
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__


def is_unavailable_error(exc: BaseException) -> bool:
    """True when an exception means the database could not be reached (not a bad query)."""
    return isinstance(exc, OperationalError | DatabaseUnavailable)


def serialize(session: Session, name: str) -> None:
    """Serialise the rest of this transaction against every other one using ``name``.

    Call it as the first statement of a transaction. It updates one row of
    ``db_locks``: PostgreSQL holds the row lock and SQLite the database write
    lock until commit or rollback, so concurrent writers from any number of
    processes queue up instead of interleaving (e.g. appends to one linear log).
    """
    result = session.execute(
        text("UPDATE db_locks SET generation = generation + 1 WHERE name = :name"),
        {"name": name},
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise LookupError(f"no serialisation lock named {name!r}; add it in a migration")


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for other backends or in-memory."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(os.path.abspath(url.database))
