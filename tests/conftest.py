"""Fixtures shared by the whole suite: fresh, migrated databases on SQLite and PostgreSQL.

Every database test runs on SQLite and, when ``SENDGATE_TEST_DATABASE_URL``
names a PostgreSQL server, again on PostgreSQL. Each test gets its own
database, cloned from a template migrated once per test process, and dropped
afterwards. With ``SENDGATE_REQUIRE_POSTGRES=1`` an unreachable server fails
the PostgreSQL variants instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

import db

PG_URL_VARIABLE = "SENDGATE_TEST_DATABASE_URL"


def postgres_required() -> bool:
    return os.environ.get("SENDGATE_REQUIRE_POSTGRES", "") in {"1", "true", "yes"}


def _postgres_admin_url() -> URL | None:
    raw = os.environ.get(PG_URL_VARIABLE)
    if not raw:
        if postgres_required():
            pytest.fail(f"SENDGATE_REQUIRE_POSTGRES=1 but {PG_URL_VARIABLE} is not set")
        return None
    return db.parse_database_url(raw)


def _unreachable(reason: str) -> None:
    if postgres_required():
        pytest.fail(f"PostgreSQL is required but unusable: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


class PostgresCluster:
    """Creates and drops throw-away databases on the server named by the test URL."""

    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)

    def create(self, name: str, template: str | None = None) -> URL:
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        return self.admin_url.set(database=name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_URL_VARIABLE} not set")
    cluster = PostgresCluster(admin_url)
    try:
        with cluster.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        _unreachable(str(exc).splitlines()[0])
    yield cluster
    cluster.admin.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster) -> Iterator[str]:
    name = f"sg_tpl_{uuid.uuid4().hex[:12]}"
    url = postgres_cluster.create(name)
    database = db.Database(url)
    db.upgrade(database)
    database.dispose()
    yield name
    postgres_cluster.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    database = db.Database(f"sqlite:///{path}")
    db.upgrade(database)
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """URL of a fresh, migrated SQLite database file for this test."""
    target = tmp_path / "sendgate.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster, postgres_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for this test."""
    name = f"sg_t_{uuid.uuid4().hex[:16]}"
    url = postgres_cluster.create(name, template=postgres_template)
    yield url.render_as_string(hide_password=False)
    postgres_cluster.drop(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def database(database_url: str) -> Iterator[db.Database]:
    """A :class:`db.Database` on a fresh migrated database (both backends)."""
    handle = db.Database(database_url)
    yield handle
    handle.dispose()


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[db.Database]:
    """A :class:`db.Database` on a fresh migrated SQLite file only."""
    handle = db.Database(sqlite_url)
    yield handle
    handle.dispose()


def backend_of(url: str) -> str:
    return make_url(url).get_backend_name()
