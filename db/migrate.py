"""Schema migrations: every package's Alembic revisions, applied with one call.

Each bounded context owns its tables and keeps its revisions in
``<package>/migrations/versions`` under its own branch label, so packages add
schema changes without editing each other's history. ``upgrade`` applies all
heads; it is idempotent and safe to run from several processes at once.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from db.engine import Database

# Packages that may own migrations, in dependency order. Looked up by name
# (never imported here) so that db stays at the bottom of the import graph.
MIGRATION_PACKAGES = ("db", "web", "consent", "auditor", "rules", "relay", "reports")

_MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary constant: the PostgreSQL advisory lock that serialises concurrent `init`s.
_PG_MIGRATION_LOCK = 0x5E9D_6A7E


def version_locations() -> list[str]:
    """The ``versions`` folders of every installed package that has migrations."""
    locations = []
    for package in MIGRATION_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        versions = Path(spec.origin).parent / "migrations" / "versions"
        if versions.is_dir():
            locations.append(str(versions))
    return locations


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config over all packages' revisions, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(database: Database) -> None:
    """Apply every pending migration of every package (``alembic upgrade heads``)."""
    with database.engine.begin() as connection:
        if database.backend == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), "heads")


def pending(database: Database) -> list[str]:
    """Revisions not yet applied, oldest first; empty when the schema is current."""
    script = ScriptDirectory.from_config(alembic_config())
    with database.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    applied = {rev.revision for head in current for rev in script.iterate_revisions(head, "base")}
    return [
        rev.revision
        for rev in reversed(list(script.walk_revisions()))
        if rev.revision not in applied
    ]
