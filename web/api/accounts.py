"""API: the caller's identity, API tokens, users and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from web import accounts
from web.access import current_user, requires
from web.accounts import AccountError, ApiToken, AuditLogEntry, User
from web.problems import ApiProblem
from web.runtime import request_session

URL_PREFIX = ""
blp = Blueprint("accounts", __name__, description="Identity, users, API tokens, audit log")


class UserSchema(ma.Schema):
    username = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    last_login_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class UserCreateSchema(ma.Schema):
    username = ma.fields.String(required=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(accounts.ROLES))
    password = ma.fields.String(load_default=None, load_only=True)


class UserCreatedSchema(ma.Schema):
    username = ma.fields.String()
    role = ma.fields.String()
    one_time_password = ma.fields.String(
        allow_none=True, metadata={"description": "Generated password, shown only here"}
    )


class UserUpdateSchema(ma.Schema):
    active = ma.fields.Boolean(required=True)


class TokenSchema(ma.Schema):
    id = ma.fields.String(attribute="public_id", dump_only=True)
    name = ma.fields.String(required=True)
    user = ma.fields.Function(lambda t: t.user.username, dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    last_used_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class TokenCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    expires_in_days = ma.fields.Integer(
        load_default=None, validate=ma.validate.Range(min=1, max=3650)
    )


class TokenCreatedSchema(ma.Schema):
    id = ma.fields.String(attribute="public_id")
    name = ma.fields.String()
    expires_at = ma.fields.DateTime(allow_none=True)
    token = ma.fields.String(
        metadata={"description": "The bearer value; shown only in this answer"}
    )


class AuditEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.DateTime()
    actor = ma.fields.String()
    action = ma.fields.String()
    target = ma.fields.String(allow_none=True)
    details = ma.fields.Dict()
    reason = ma.fields.String(allow_none=True)


class AuditQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    before_id = ma.fields.Integer(load_default=None)


def _account_problem(exc: AccountError) -> ApiProblem:
    status = (
        404
        if isinstance(exc, accounts.UnknownUser | accounts.UnknownToken)
        else (409 if isinstance(exc, accounts.UserExists) else 422)
    )
    errors = [{"field": exc.field, "message": str(exc)}] if exc.field else None
    return ApiProblem(status, str(exc), errors=errors)


def _me() -> User:
    user = current_user()
    assert user is not None  # guaranteed by @requires
    return user


@blp.route("/me")
@blp.response(200, UserSchema)
@requires("marketer", "compliance", "admin")
def whoami() -> User:
    """The user the bearer token belongs to."""
    return _me()


@blp.route("/tokens")
@blp.response(200, TokenSchema(many=True))
@requires("marketer", "compliance", "admin")
def list_tokens() -> list[ApiToken]:
    """Tokens of the caller (all tokens for admins)."""
    me = _me()
    return accounts.list_tokens(request_session(), None if me.role == "admin" else me)


@blp.route("/tokens", methods=["POST"])
@blp.arguments(TokenCreateSchema)
@blp.response(201, TokenCreatedSchema)
@requires("marketer", "compliance", "admin")
def create_token(body: dict[str, Any]) -> dict[str, Any]:
    """Create a token for the caller; the bearer value is in this answer only."""
    session = request_session()
    expires = timedelta(days=body["expires_in_days"]) if body["expires_in_days"] else None
    try:
        token, bearer = accounts.create_token(session, _me(), body["name"], expires_in=expires)
    except AccountError as exc:
        raise _account_problem(exc) from None
    session.commit()
    return {
        "public_id": token.public_id,
        "name": token.name,
        "expires_at": token.expires_at,
        "token": bearer,
    }


@blp.route("/tokens/<token_id>", methods=["DELETE"])
@blp.response(204)
@requires("marketer", "compliance", "admin")
def revoke_token(token_id: str) -> None:
    """Revoke a token. Users may revoke their own; admins any."""
    session = request_session()
    me = _me()
    owned = {t.public_id for t in accounts.list_tokens(session, None if me.role == "admin" else me)}
    if token_id not in owned:
        raise ApiProblem(404, f"no token with id {token_id!r}")
    accounts.revoke_token(session, token_id, actor=me.username)
    session.commit()


@blp.route("/users")
@blp.response(200, UserSchema(many=True))
@requires("admin")
def list_users() -> list[User]:
    """All users."""
    return accounts.list_users(request_session())


@blp.route("/users", methods=["POST"])
@blp.arguments(UserCreateSchema)
@blp.response(201, UserCreatedSchema)
@requires("admin")
def create_user(body: dict[str, Any]) -> dict[str, Any]:
    """Create a user; without a password, a one-time password is generated and returned."""
    session = request_session()
    try:
        user, generated = accounts.create_user(
            session, body["username"], body["role"], body["password"], actor=_me().username
        )
    except AccountError as exc:
        raise _account_problem(exc) from None
    session.commit()
    return {"username": user.username, "role": user.role, "one_time_password": generated}


@blp.route("/users/<username>", methods=["PATCH"])
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
@requires("admin")
def update_user(body: dict[str, Any], username: str) -> User:
    """Enable or disable a user (disabling revokes the user's tokens)."""
    session = request_session()
    try:
        user = accounts.set_active(session, username, body["active"], actor=_me().username)
    except AccountError as exc:
        raise _account_problem(exc) from None
    session.commit()
    return user


@blp.route("/audit-log")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditEntrySchema(many=True))
@requires("compliance", "admin")
def audit_log(query: dict[str, Any]) -> list[AuditLogEntry]:
    """Audit-log entries, newest first; page with ``before_id``."""
    return accounts.audit_log(request_session(), limit=query["limit"], before_id=query["before_id"])
