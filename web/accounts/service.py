"""Account operations: users, passwords, API tokens, login throttling and the audit log.

Plain functions over a SQLAlchemy session, shared by the web views and the CLI.
Failures are typed; authentication failures never say which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db import utcnow
from web.accounts.models import ROLES, ApiToken, AuditLogEntry, LoginAttempt, User

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "sg"  # noqa: S105 - a label, not a secret

_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths cost one Argon2 hash.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(Exception):
    """Base class of account errors; ``field`` names the input at fault, when one is."""

    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidAccountInput(AccountError):
    """A username, role or password does not meet the rules."""


class UserExists(AccountError):
    """A user with that name exists already."""


class UnknownUser(AccountError):
    """No user has that name."""


class UnknownToken(AccountError):
    """No token has that id."""


class AuthenticationFailed(AccountError):
    """Wrong user name, password or token: deliberately not more precise."""


class LoginThrottled(AccountError):
    """Too many failed logins for this account or client; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed login attempts; try again later")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginPolicy:
    max_attempts: int
    window: timedelta
    throttle_key: bytes  # keys the hashes of account names and client addresses


def validate_username(username: str) -> str:
    if not USERNAME_PATTERN.match(username):
        raise InvalidAccountInput(
            "username must be 2-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit",
            field="username",
        )
    return username


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidAccountInput(f"role must be one of {', '.join(ROLES)}", field="role")
    return role


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccountInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    return password


def generate_password() -> str:
    """A random password of about 120 bits, readable enough to type once."""
    return secrets.token_urlsafe(15)


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str | None = None,
    *,
    actor: str = "system",
) -> tuple[User, str | None]:
    """Create a user; without a password one is generated and returned (shown once)."""
    validate_username(username)
    validate_role(role)
    generated = None
    if password is None:
        password = generated = generate_password()
    validate_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(f"user {username!r} exists already", field="username")
    user = User(
        username=username,
        role=role,
        password_hash=_hasher.hash(password),
        active=True,
        must_change_password=generated is not None,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    record(session, actor, "user.create", target=f"user:{username}", details={"role": role})
    return user, generated


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UnknownUser(f"no user named {username!r}", field="username")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def set_active(session: Session, username: str, active: bool, *, actor: str = "system") -> User:
    """Enable or disable a user; disabling also revokes every token the user holds."""
    user = get_user(session, username)
    user.active = active
    if not active:
        now = utcnow()
        for token in user.tokens:
            if token.revoked_at is None:
                token.revoked_at = now
    record(session, actor, "user.enable" if active else "user.disable", target=f"user:{username}")
    return user


def change_password(session: Session, user: User, new_password: str, *, actor: str) -> None:
    validate_password(new_password)
    user.password_hash = _hasher.hash(new_password)
    user.must_change_password = False
    record(session, actor, "user.password", target=f"user:{user.username}")


def _keyed(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def authenticate(
    session: Session, username: str, password: str, client_address: str, policy: LoginPolicy
) -> User:
    """Return the active user with this password, or raise.

    Raises :class:`LoginThrottled` when the account or the client address had
    ``max_attempts`` failures within the window (checked before the password,
    so a throttled attacker learns nothing), else :class:`AuthenticationFailed`.
    """
    now = utcnow()
    account_key = _keyed(policy.throttle_key, "account:" + username.lower())
    client_key = _keyed(policy.throttle_key, "client:" + client_address)
    since = now - policy.window
    for column, key in (
        (LoginAttempt.account_key, account_key),
        (LoginAttempt.client_key, client_key),
    ):
        failures = session.execute(
            select(func.count(LoginAttempt.id), func.min(LoginAttempt.attempted_at)).where(
                column == key, LoginAttempt.attempted_at >= since
            )
        ).one()
        if failures[0] >= policy.max_attempts:
            retry = int((failures[1] + policy.window - now).total_seconds()) + 1
            raise LoginThrottled(max(retry, 1))

    user = session.scalar(select(User).where(User.username == username))
    ok = _verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        session.add(LoginAttempt(account_key=account_key, client_key=client_key, attempted_at=now))
        record(session, "anonymous", "login.failed", details={})
        raise AuthenticationFailed("invalid credentials")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    session.execute(delete(LoginAttempt).where(LoginAttempt.account_key == account_key))
    record(session, user.username, "login", target=f"user:{user.username}")
    return user


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def purge_login_attempts(session: Session, older_than: datetime) -> int:
    """Delete failed-login records older than the throttling window; returns how many."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _hash_secret(secret: str) -> str:
    # Token secrets carry 256 random bits: a fast hash is enough, a slow one only costs latency.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session,
    user: User,
    name: str,
    *,
    expires_in: timedelta | None = None,
    actor: str | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token for ``user``; returns the row and the bearer value (shown once)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidAccountInput("token name must be 1-100 characters", field="name")
    public_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        public_id=public_id,
        secret_hash=_hash_secret(secret),
        user_id=user.id,
        name=name,
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
    )
    session.add(token)
    session.flush()
    record(
        session,
        actor or user.username,
        "token.create",
        target=f"token:{public_id}",
        details={"user": user.username, "name": name},
    )
    return token, f"{TOKEN_PREFIX}_{public_id}_{secret}"


def revoke_token(session: Session, public_id: str, *, actor: str) -> ApiToken:
    token = session.scalar(select(ApiToken).where(ApiToken.public_id == public_id))
    if token is None:
        raise UnknownToken(f"no token with id {public_id!r}", field="token_id")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(session, actor, "token.revoke", target=f"token:{public_id}")
    return token


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))


def user_for_token(session: Session, bearer: str) -> User:
    """The active user a bearer token belongs to; :class:`AuthenticationFailed` otherwise."""
    parts = bearer.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise AuthenticationFailed("invalid credentials")
    token = session.scalar(select(ApiToken).where(ApiToken.public_id == parts[1]))
    now = utcnow()
    if (
        token is None
        or not hmac.compare_digest(token.secret_hash, _hash_secret(parts[2]))
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or not token.user.active
    ):
        raise AuthenticationFailed("invalid credentials")
    # Coarse last-use stamp: one write per token per minute at most, not per request.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return token.user


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditLogEntry:
    """Append an audit-log entry in the caller's transaction."""
    entry = AuditLogEntry(
        at=utcnow(), actor=actor, action=action, target=target, details=details or {}, reason=reason
    )
    session.add(entry)
    return entry


def audit_log(
    session: Session, *, limit: int = 100, before_id: int | None = None
) -> list[AuditLogEntry]:
    query = select(AuditLogEntry).order_by(AuditLogEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditLogEntry.id < before_id)
    return list(session.scalars(query))
