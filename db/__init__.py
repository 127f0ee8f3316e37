"""The data layer: declarative base, engine and sessions, and schema migrations.

Every package's models derive from :class:`Base`; a process holds one
:class:`Database`. Schema changes are Alembic revisions kept by each package in
``<package>/migrations/versions`` and applied by :func:`upgrade` (``sendgate init``).
"""

from db.base import Base, UTCDateTime, utcnow
from db.engine import (
    Database,
    is_unavailable_error,
    make_engine,
    parse_database_url,
    redact,
    serialize,
)
from db.errors import DatabaseError, DatabaseUnavailable, InvalidDatabaseURL
from db.migrate import pending, upgrade

__all__ = [
    "Base",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "InvalidDatabaseURL",
    "UTCDateTime",
    "is_unavailable_error",
    "make_engine",
    "parse_database_url",
    "pending",
    "redact",
    "serialize",
    "upgrade",
    "utcnow",
]
