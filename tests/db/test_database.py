"""The data layer on both backends: migrations, pragmas, serialised sections, errors."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

import db


def test_migrations_are_current_and_idempotent(database: db.Database) -> None:
    assert db.pending(database) == []
    db.upgrade(database)  # a second `sendgate init` changes nothing
    assert db.pending(database) == []


def test_fresh_database_reports_pending(tmp_path) -> None:
    fresh = db.Database(f"sqlite:///{tmp_path / 'empty.db'}")
    assert "db_0001" in db.pending(fresh)
    db.upgrade(fresh)
    assert db.pending(fresh) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_database: db.Database) -> None:
    with sqlite_database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_scrub_deleted(database: db.Database) -> None:
    with database.session() as session:
        session.execute(text("DELETE FROM db_locks WHERE name = 'no-such-lock'"))
    assert database.scrub_deleted(["db_locks"]) is True
    with pytest.raises(ValueError):
        database.scrub_deleted(["db_locks; DROP TABLE db_locks"])


def test_scrub_deleted_reports_a_reader_holding_old_pages(sqlite_database: db.Database) -> None:
    with sqlite_database.engine.connect() as reader:
        reader.exec_driver_sql("SELECT count(*) FROM db_locks").all()  # opens a read snapshot
        with sqlite_database.session() as session:
            session.execute(text("UPDATE db_locks SET generation = generation + 1"))
        assert sqlite_database.scrub_deleted(["db_locks"], wait_seconds=0.1) is False
        reader.rollback()
    assert sqlite_database.scrub_deleted(["db_locks"]) is True


def test_session_rolls_back_on_error(database: db.Database) -> None:
    with database.session() as session:
        session.execute(text("INSERT INTO db_locks (name, generation) VALUES ('t', 0)"))
    with pytest.raises(RuntimeError), database.session() as session:
        session.execute(text("UPDATE db_locks SET generation = 5 WHERE name = 't'"))
        raise RuntimeError("boom")
    with database.session() as session:
        assert session.execute(text("SELECT generation FROM db_locks WHERE name='t'")).scalar() == 0


def test_serialize_queues_concurrent_writers(database: db.Database) -> None:
    """Read-modify-write under `serialize` loses no update, from many threads at once."""
    with database.session() as session:
        session.execute(text("INSERT INTO db_locks (name, generation) VALUES ('counter', 0)"))
        session.execute(text("INSERT INTO db_locks (name, generation) VALUES ('value', 0)"))

    def bump() -> None:
        for _ in range(10):
            with database.session() as session:
                db.serialize(session, "counter")
                current = session.execute(
                    text("SELECT generation FROM db_locks WHERE name='value'")
                ).scalar_one()
                session.execute(
                    text("UPDATE db_locks SET generation = :v WHERE name='value'"),
                    {"v": current + 1},
                )

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with database.session() as session:
        assert (
            session.execute(text("SELECT generation FROM db_locks WHERE name='value'")).scalar()
            == 40
        )


def test_serialize_unknown_lock_is_an_error(database: db.Database) -> None:
    with (
        pytest.raises(LookupError, match="no serialisation lock named 'nope'"),
        database.session() as s,
    ):
        db.serialize(s, "nope")


def test_unreachable_database_names_the_url_without_password() -> None:
    handle = db.Database("postgresql+psycopg://user:hunter2@127.0.0.1:1/nowhere")
    with pytest.raises(db.DatabaseUnavailable) as info:
        handle.ping()
    assert "hunter2" not in str(info.value)
    assert "127.0.0.1:1/nowhere" in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://x/y", "unsupported database backend 'mysql'"), ("::::", "cannot parse")],
)
def test_bad_urls_are_rejected(url: str, message: str) -> None:
    with pytest.raises(db.InvalidDatabaseURL, match=message):
        db.parse_database_url(url)
