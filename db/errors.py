"""Exceptions of the data layer."""

from __future__ import annotations


class DatabaseError(Exception):
    """Base class for data-layer errors."""


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached or answered with an error.

    The message names the database by its redacted URL (never the password).
    """


class InvalidDatabaseURL(DatabaseError):
    """The configured database URL cannot be parsed or names an unsupported backend."""
