"""What one process of the service holds: settings, keys and the database handle.

Built once by the app factory (or the CLI, the scheduler and the relay) and
shared; request-scoped sessions come from :func:`request_session`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

import db
from auditor import DnsResolver, ResolverConfigError
from consent import ConsentKeys, ConsentLedger, ConsentSettings, ImportQueue
from relay import Upstream, upstream_from_url
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

    @functools.cached_property
    def dns_resolver(self) -> DnsResolver:
        """The one resolver of this process (its cache is shared by every audit)."""
        return make_resolver(self.settings)

    @functools.cached_property
    def consent(self) -> ConsentLedger:
        """The consent ledger bound to this process's database and keys."""
        settings = self.settings
        return ConsentLedger(
            self.database,
            ConsentKeys(
                pepper=self.keys.subject_pepper,
                master_key=self.keys.master_key,
                token_key=self.keys.token_key,
                signing_key=self.keys.ledger_signing_key,
            ),
            ConsentSettings(
                optin_token_ttl=timedelta(hours=settings.opt_in_token_ttl_hours),
                repermission_months=settings.repermission_months,
                base_url=settings.base_url,
                unsubscribe_mailto=settings.unsubscribe_mailto or None,
                optin_requests_per_day=settings.optin_requests_per_day,
            ),
            dns_resolver=self.dns_resolver,
        )

    @functools.cached_property
    def imports(self) -> ImportQueue:
        """Background imports of uploaded lists, sealed in ``var/imports`` until imported."""
        return ImportQueue(self.consent, self.settings.var_dir / "imports")

    @functools.cached_property
    def upstream(self) -> Upstream:
        """Where mail sendgate itself sends (opt-in confirmations) is delivered."""
        settings = self.settings
        return upstream_from_url(
            settings.upstream,
            username=settings.upstream_username,
            password=settings.upstream_password,
        )

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


def make_resolver(settings: Settings, nameservers: Sequence[str] | None = None) -> DnsResolver:
    """A resolver from the settings; ``nameservers`` (e.g. a CLI option) replace the configured."""
    servers = list(nameservers or settings.nameservers) or None
    try:
        return DnsResolver(
            servers,
            timeout=settings.dns_timeout,
            lifetime=max(settings.dns_timeout * 2, settings.dns_timeout + 1),
        )
    except ResolverConfigError as exc:
        raise ConfigError(f"SENDGATE_NAMESERVERS: {exc}") from None


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
