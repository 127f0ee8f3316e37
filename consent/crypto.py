"""Keys, address normalisation, subject HMACs, per-subject encryption and signed tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import email_validator
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from email_validator.rfc_constants import EMAIL_MAX_LENGTH, LOCAL_PART_MAX_LENGTH

from consent.deliverability import check_domain_accepts_mail
from consent.errors import InvalidEmail, TokenInvalid
from consent.verify import NONCE_BYTES, personal_aad

_KEY_WRAP_AAD = b"sendgate-consent-subject-key/v1|"
_EMAIL_AAD = b"sendgate-consent-email/v1|"
_HMAC_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ConsentKeys:
    """Key material the ledger is bound to (32 bytes each; never logged or shown).

    - ``pepper``: HMAC key turning a normalized address into its subject id.
    - ``master_key``: AES-256 key wrapping each subject's own data key.
    - ``token_key``: HMAC key signing opt-in and unsubscribe tokens.
    - ``signing_key``: raw Ed25519 private key signing tree heads.
    """

    pepper: bytes = field(repr=False)
    master_key: bytes = field(repr=False)
    token_key: bytes = field(repr=False)
    signing_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("pepper", "master_key", "token_key", "signing_key"):
            if len(getattr(self, name)) != 32:
                raise ValueError(f"ConsentKeys.{name} must be 32 bytes")

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.signing_key)

    @property
    def public_key(self) -> bytes:
        """The raw Ed25519 public key that verifies this ledger's tree heads."""
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def generate(cls) -> ConsentKeys:
        """Fresh random keys (for tests, benchmarks and first initialisation)."""
        signing = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(os.urandom(32), os.urandom(32), os.urandom(32), signing)


def normalize_email(
    address: str, *, check_deliverability: bool = False, resolver: Any = None, field: str = "email"
) -> str:
    """The canonical form of an address (email-validator's normalization, lower-cased).

    Syntax only unless ``check_deliverability``: then the domain must accept mail,
    asked through ``resolver`` (see :mod:`consent.deliverability`), and a DNS
    failure refuses the address too. Raises :class:`InvalidEmail`.
    """
    normalized = _normalize_syntax(address, field)
    if check_deliverability:
        check_domain_accepts_mail(resolver, normalized.rpartition("@")[2], field)
    return normalized


def _normalize_syntax(address: str, field: str) -> str:
    if not isinstance(address, str) or not address.strip():
        raise InvalidEmail(field, "an email address is required")
    fast = _normalize_plain_ascii(address.strip())
    if fast is not None:
        return fast
    try:
        result = email_validator.validate_email(address.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        # email-validator's messages describe the syntax problem without echoing the address.
        raise InvalidEmail(field, str(exc)) from None
    # Lower-cased whole: mailbox providers treat local parts case-insensitively, and one
    # person must map to one subject whichever way they typed their address.
    return result.normalized.lower()


# RFC 5322 dot-atom over ASCII atext: the local parts email-validator accepts unchanged.
_ASCII_LOCAL_PART = re.compile(
    r"[A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+)*"
)


@lru_cache(maxsize=16384)
def _checked_domain(domain: str) -> str | None:
    try:
        return email_validator.validate_email(
            "postmaster@" + domain, check_deliverability=False
        ).domain
    except email_validator.EmailNotValidError:
        return None


def _normalize_plain_ascii(address: str) -> str | None:
    """Same result as email-validator for a dot-atom ASCII local part, validating each
    domain once (an import of a million addresses has a few thousand domains); None
    sends anything else through the full validation, which also words the errors."""
    local, at, domain = address.rpartition("@")
    if not at or len(local) > LOCAL_PART_MAX_LENGTH or not domain.isascii():
        return None
    if _ASCII_LOCAL_PART.fullmatch(local) is None:
        return None
    checked = _checked_domain(domain)
    if checked is None:
        return None
    normalized = f"{local}@{checked}"
    return normalized.lower() if len(normalized) <= EMAIL_MAX_LENGTH else None


def is_subject_hmac(value: str) -> bool:
    """True when ``value`` has the form of a subject id (64 lowercase hex digits)."""
    return bool(_HMAC_RE.fullmatch(value))


def subject_hmac(pepper: bytes, normalized_email: str) -> str:
    """The subject id of a normalized address: hex HMAC-SHA256(pepper, address)."""
    return hmac.new(pepper, normalized_email.encode("utf-8"), hashlib.sha256).hexdigest()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)


def wrap_key(master_key: bytes, subject: str, data_key: bytes) -> bytes:
    return _seal(master_key, data_key, _KEY_WRAP_AAD + subject.encode())


def unwrap_key(master_key: bytes, subject: str, wrapped: bytes) -> bytes:
    try:
        return _open(master_key, wrapped, _KEY_WRAP_AAD + subject.encode())
    except InvalidTag:
        raise ValueError("a subject key does not unwrap with the configured master key") from None


def seal_email(data_key: bytes, subject: str, text: str) -> bytes:
    return _seal(data_key, text.encode("utf-8"), _EMAIL_AAD + subject.encode())


def open_email(data_key: bytes, subject: str, blob: bytes) -> str:
    return _open(data_key, blob, _EMAIL_AAD + subject.encode()).decode("utf-8")


def seal_personal(data_key: bytes, subject: str, values: dict[str, str]) -> str:
    """Encrypt an event's personal data; base64 so it sits in the event's canonical JSON."""
    plaintext = json.dumps(values, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(_seal(data_key, plaintext, personal_aad(subject))).decode("ascii")


def open_personal(data_key: bytes, subject: str, sealed: str) -> dict[str, str]:
    result: dict[str, str] = json.loads(
        _open(data_key, base64.b64decode(sealed), personal_aad(subject))
    )
    return result


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(token_key: bytes, payload: dict[str, Any]) -> str:
    """A URL-safe token: base64url(JSON payload) '.' base64url(HMAC-SHA256)."""
    body = _b64url(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    mac = hmac.new(token_key, body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64url(mac)}"


def read_token(token_key: bytes, token: str, kind: str) -> dict[str, Any]:
    """The payload of a token this service signed for ``kind``; raises :class:`TokenInvalid`."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 1024:
        raise TokenInvalid("token", "malformed token")
    body, mac_text = token.split(".")
    try:
        mac = _unb64url(mac_text)
        expected = hmac.new(token_key, body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise TokenInvalid("token", "signature does not verify")
        payload = json.loads(_unb64url(body))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise TokenInvalid("token", "malformed token") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise TokenInvalid("token", f"not a {kind} token")
    return payload
