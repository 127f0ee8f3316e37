"""The service's generated secrets, kept in one 0600 JSON file under ``var/``.

``sendgate init`` creates them once; every process reads the same file.
Values never appear in logs, errors or ``repr``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from web.config import ConfigError

KEY_NAMES = ("session_secret", "subject_pepper", "master_key", "token_key", "ledger_signing_key")


@dataclass(frozen=True)
class ServiceKeys:
    """Raw key material.

    - ``session_secret``: signs Flask session cookies and CSRF tokens.
    - ``subject_pepper``: HMAC key for consent-subject lookups.
    - ``master_key``: AES-256 key that wraps each consent subject's own data key.
    - ``token_key``: signs opt-in and unsubscribe tokens sent by email.
    - ``ledger_signing_key``: Ed25519 private key (raw 32 bytes) for signed tree heads.
    """

    session_secret: bytes = field(repr=False)
    subject_pepper: bytes = field(repr=False)
    master_key: bytes = field(repr=False)
    token_key: bytes = field(repr=False)
    ledger_signing_key: bytes = field(repr=False)

    @property
    def ledger_private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.ledger_signing_key)


def generate_keys() -> ServiceKeys:
    signing = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return ServiceKeys(
        session_secret=secrets.token_bytes(32),
        subject_pepper=secrets.token_bytes(32),
        master_key=secrets.token_bytes(32),
        token_key=secrets.token_bytes(32),
        ledger_signing_key=signing,
    )


def ensure_keys(path: Path) -> tuple[ServiceKeys, bool]:
    """Load the keys file, creating it (0600, in a 0700 directory) when absent.

    Returns the keys and whether they were created now.
    """
    if path.exists():
        return load_keys(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    keys = generate_keys()
    payload = {name: base64.b64encode(getattr(keys, name)).decode() for name in KEY_NAMES}
    # O_EXCL: two processes initialising at once must not overwrite each other's keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_keys(path), False
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2)
        fh.write("\n")
    return keys, True


def load_keys(path: Path) -> ServiceKeys:
    """Read the keys file; :class:`ConfigError` says what is wrong with it (never a value)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"SENDGATE_SECRETS_FILE: {path} does not exist; run `sendgate init` first"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"SENDGATE_SECRETS_FILE: {path} is readable by others; run `chmod 600 {path}`"
        )
    try:
        data = json.loads(path.read_text())
        values = {name: base64.b64decode(data[name], validate=True) for name in KEY_NAMES}
    except KeyError as exc:
        raise ConfigError(f"SENDGATE_SECRETS_FILE: {path} lacks key {exc.args[0]!r}") from None
    except ValueError:
        raise ConfigError(f"SENDGATE_SECRETS_FILE: {path} is not a valid keys file") from None
    for name, value in values.items():
        if len(value) != 32:
            raise ConfigError(f"SENDGATE_SECRETS_FILE: {path}: {name} must be 32 bytes")
    return ServiceKeys(**values)
