"""What one process of the service holds: settings, keys and the database handle.

Built once by the app factory (or the CLI, the scheduler and the relay) and
shared; request-scoped sessions come from :func:`request_session`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

import db
from web.config import ConfigError, Settings
from web.keys import ServiceKeys, load_keys

EXTENSION_KEY = "sendgate"
log = logging.getLogger("sendgate")


@dataclass
class Runtime:
    settings: Settings
    keys: ServiceKeys
    database: db.Database

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Open keys and database; raises :class:`ConfigError` naming the bad setting."""
        keys = load_keys(settings.resolved_secrets_file)
        return cls(settings=settings, keys=keys, database=db.Database(settings.database_url))

    def check_database(self) -> None:
        """Fail start-up with one line when the database is unreachable or not initialised."""
        try:
            self.database.ping()
            missing = db.pending(self.database)
        except db.DatabaseError as exc:
            raise ConfigError(f"SENDGATE_DATABASE_URL: {exc}") from None
        except Exception as exc:
            raise ConfigError(
                f"SENDGATE_DATABASE_URL: database {self.database.display_url} is unusable: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        if missing:
            raise ConfigError(
                f"SENDGATE_DATABASE_URL: database {self.database.display_url} lacks "
                f"{len(missing)} migration(s); run `sendgate init`"
            )


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions[EXTENSION_KEY]


def request_session() -> Session:
    """The session of the current request; closed (uncommitted work rolled back) at teardown."""
    if "db_session" not in g:
        g.db_session = runtime().database.sessions()
    return g.db_session


def close_request_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
