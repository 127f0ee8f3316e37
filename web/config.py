"""The service's typed configuration, read once from defaults, a TOML file and ``SENDGATE_*``.

Precedence, lowest first: built-in defaults, the TOML file named by
``SENDGATE_CONFIG`` (keys are the field names, e.g. ``database_url``), the
``SENDGATE_<FIELD>`` environment variables, and explicit overrides passed by
code (tests, ``create_app(config=...)``). Anything unknown or malformed stops
start-up with one :class:`ConfigError` line naming the setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from db import InvalidDatabaseURL, parse_database_url

ENV_PREFIX = "SENDGATE_"
# Variables with the prefix that are not settings: where the file is, and test-suite switches.
NON_SETTING_VARIABLES = frozenset(
    {"SENDGATE_CONFIG", "SENDGATE_TEST_DATABASE_URL", "SENDGATE_REQUIRE_POSTGRES"}
)


class ConfigError(Exception):
    """A setting is unknown, malformed or unusable; the message names it."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    """Every setting of the service. Field ``x`` is ``SENDGATE_X`` in the environment."""

    var_dir: Path = field(
        default=Path("var"), metadata=_doc("Directory for the embedded database, keys and outbox")
    )
    database_url: str = field(
        default="", repr=False, metadata=_doc("SQLAlchemy URL; default: SQLite file under var_dir")
    )
    secrets_file: Path | None = field(
        default=None, metadata=_doc("JSON file of generated keys; default var_dir/secrets.json")
    )
    base_url: str = field(
        default="http://127.0.0.1:8000",
        metadata=_doc("Public URL of the web service, used in links sent by email"),
    )
    host: str = field(default="127.0.0.1", metadata=_doc("Address `sendgate serve` binds to"))
    port: int = field(default=8000, metadata=_doc("Port `sendgate serve` binds to"))
    workers: int = field(default=2, metadata=_doc("gunicorn workers for `sendgate serve`"))
    upstream: str = field(
        default="",
        metadata=_doc(
            "Outbound mail: smtp://host:port?starttls=1 or maildir:PATH; "
            "default maildir under var_dir"
        ),
    )
    upstream_username: str = field(default="", metadata=_doc("Upstream SMTP user name"))
    upstream_password: str = field(
        default="", repr=False, metadata=_doc("Upstream SMTP password (never logged)")
    )
    organisation: str = field(
        default="", metadata=_doc("Name of the organisation shown on public pages and in mails")
    )
    unsubscribe_mailto: str = field(
        default="", metadata=_doc("Address for the mailto: form of List-Unsubscribe (optional)")
    )
    mail_from: str = field(
        default="no-reply@localhost",
        metadata=_doc("Envelope and From address of mail sendgate itself sends"),
    )
    nameservers: tuple[str, ...] = field(
        default=(),
        metadata=_doc("DNS servers as HOST[:PORT], comma-separated; default the system resolver"),
    )
    dns_timeout: float = field(
        default=3.0, metadata=_doc("Seconds before a DNS query counts as unavailable")
    )
    dnsbl_zones: tuple[str, ...] = field(
        default=("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"),
        metadata=_doc("DNSBL zones queried for sending IPs"),
    )
    secure_cookies: bool | None = field(
        default=None, metadata=_doc("Mark cookies Secure; default: when base_url is https")
    )
    trusted_proxies: int = field(
        default=0,
        metadata=_doc("Number of reverse proxies whose X-Forwarded-* headers are trusted"),
    )
    login_max_attempts: int = field(
        default=5,
        metadata=_doc("Failed logins allowed per account and per IP within login_window_seconds"),
    )
    login_window_seconds: int = field(
        default=900, metadata=_doc("Window for counting failed logins")
    )
    subscribe_max_per_client: int = field(
        default=10,
        metadata=_doc(
            "Sign-up form posts allowed per client address within subscribe_window_seconds"
        ),
    )
    subscribe_window_seconds: int = field(
        default=3600, metadata=_doc("Window for counting sign-up form posts per client")
    )
    optin_requests_per_day: int = field(
        default=3,
        metadata=_doc("Confirmation mails one address may be sent per purpose in 24 hours"),
    )
    import_max_mb: int = field(
        default=1024, metadata=_doc("Largest list upload the import API accepts, in MiB")
    )
    log_level: str = field(default="INFO", metadata=_doc("Python logging level"))
    scheduler_timezone: str = field(
        default="UTC", metadata=_doc("Time zone of cron-style scheduled jobs")
    )
    opt_in_token_ttl_hours: int = field(
        default=72, metadata=_doc("Hours a double opt-in confirmation link stays valid")
    )
    repermission_months: int = field(
        default=24, metadata=_doc("Consent older than this without reconfirmation expires")
    )

    @property
    def resolved_secrets_file(self) -> Path:
        return self.secrets_file or self.var_dir / "secrets.json"

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.base_url.startswith("https://")

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def is_embedded(self) -> bool:
        """True for the laptop default: SQLite database and the Maildir outbox."""
        return self.database_url.startswith("sqlite") or self.upstream.startswith("maildir:")


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the configuration; raises :class:`ConfigError` naming the first bad setting."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}

    config_file = environ.get("SENDGATE_CONFIG")
    if config_file:
        values.update(_read_toml(Path(config_file)))

    unknown = [
        key
        for key in environ
        if key.startswith(ENV_PREFIX)
        and key not in NON_SETTING_VARIABLES
        and key[len(ENV_PREFIX) :].lower() not in FIELDS
    ]
    if unknown:
        key = sorted(unknown)[0]
        hint = _suggestion(key[len(ENV_PREFIX) :].lower(), prefix=ENV_PREFIX)
        raise ConfigError(f"{key}: unknown setting{hint}")
    for name in FIELDS:
        raw = environ.get(env_name(name))
        if raw is not None:
            values[name] = _convert(name, raw, source=env_name(name))

    for name, value in (overrides or {}).items():
        if name not in FIELDS:
            raise ConfigError(f"{name}: unknown setting{_suggestion(name)}")
        values[name] = _convert(name, value, source=name) if isinstance(value, str) else value

    settings = Settings(**values)
    return _complete(settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"SENDGATE_CONFIG: file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"SENDGATE_CONFIG: {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in FIELDS:
            raise ConfigError(f"{path}: {key}: unknown setting{_suggestion(key)}")
        values[key] = _convert(key, value, source=f"{path}: {key}")
    return values


def _suggestion(name: str, prefix: str = "") -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    return f" (did you mean {prefix}{close[0].upper() if prefix else close[0]}?)" if close else ""


def _convert(name: str, raw: Any, *, source: str) -> Any:
    hint = typing.get_type_hints(Settings)[name]
    target, optional = _unwrap_optional(hint)
    if optional and (raw is None or raw == ""):
        return None
    try:
        if target is bool:
            return _to_bool(raw)
        if target is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if target is float:
            return float(raw)
        if target is Path:
            return Path(raw)
        if typing.get_origin(target) is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if target is str:
            if not isinstance(raw, str):
                raise ValueError
            return raw
    except (TypeError, ValueError):
        expected = getattr(target, "__name__", str(target))
        raise ConfigError(f"{source}: expected {expected}, got {raw!r}") from None
    raise ConfigError(f"{source}: unsupported setting type {hint}")


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    lowered = str(raw).strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def _complete(settings: Settings) -> Settings:
    """Fill derived defaults and check the values that can be checked without I/O."""
    changes: dict[str, Any] = {}
    var_dir = settings.var_dir.expanduser()
    changes["var_dir"] = var_dir
    if not settings.database_url:
        changes["database_url"] = f"sqlite:///{(var_dir / 'sendgate.db').absolute()}"
    else:
        try:
            parse_database_url(settings.database_url)
        except InvalidDatabaseURL as exc:
            raise ConfigError(f"{env_name('database_url')}: {exc}") from None
    if not settings.upstream:
        changes["upstream"] = f"maildir:{(var_dir / 'outbox').absolute()}"
    else:
        _check_upstream(settings.upstream)
    base = urlsplit(settings.base_url)
    if base.scheme not in {"http", "https"} or not base.netloc:
        raise ConfigError(
            f"{env_name('base_url')}: expected an http(s) URL, got {settings.base_url!r}"
        )
    for ns in settings.nameservers:
        _check_host_port(ns, env_name("nameservers"))
    for name in (
        "port",
        "workers",
        "login_max_attempts",
        "login_window_seconds",
        "opt_in_token_ttl_hours",
        "repermission_months",
        "subscribe_max_per_client",
        "subscribe_window_seconds",
        "optin_requests_per_day",
        "import_max_mb",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{env_name(name)}: must be positive, got {getattr(settings, name)}")
    if settings.dns_timeout <= 0:
        raise ConfigError(f"{env_name('dns_timeout')}: must be positive")
    if settings.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"{env_name('log_level')}: unknown level {settings.log_level!r}")
    return dataclasses.replace(settings, **changes)


def _check_upstream(value: str) -> None:
    name = env_name("upstream")
    if value.startswith("maildir:"):
        if not value[len("maildir:") :]:
            raise ConfigError(f"{name}: maildir: needs a directory path")
        return
    parts = urlsplit(value)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ConfigError(
            f"{name}: expected smtp://HOST[:PORT][?starttls=1], smtps://HOST[:PORT] or maildir:PATH"
        )
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ConfigError(f"{name}: the port is not a number") from None


def _check_host_port(value: str, setting: str) -> None:
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and not port.isdigit():
        raise ConfigError(f"{setting}: {value!r} is not HOST[:PORT]")
    if not (host or value):
        raise ConfigError(f"{setting}: empty name server")


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, for --help and docs."""
    rows = []
    for name, f in FIELDS.items():
        default = f.default if f.default is not dataclasses.MISSING else ""
        if isinstance(default, tuple):
            default = ",".join(default)
        rows.append(
            (env_name(name), "" if default is None else str(default), f.metadata.get("doc", ""))
        )
    return rows
