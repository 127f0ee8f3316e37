"""Access rules: every view declares who may call it, and the rule is enforced here.

``@requires("compliance", "admin")`` admits signed-in users with one of those
roles (bearer token under ``/api/``, session cookie elsewhere); ``@public``
marks views anyone may reach (health checks, links in emails, the login page).
A test walks all routes and fails on a view with neither.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, redirect, request, session, url_for

from web.accounts import ROLES, AuthenticationFailed, User, record, user_for_token
from web.problems import ApiProblem
from web.runtime import request_session

ACCESS_ATTRIBUTE = "_sendgate_access"
PUBLIC = "public"

F = TypeVar("F", bound=Callable[..., Any])


def public(view: F) -> F:
    """Declare that anyone may call this view, signed in or not."""
    setattr(view, ACCESS_ATTRIBUTE, PUBLIC)
    return view


def requires(*roles: str) -> Callable[[F], F]:
    """Admit only signed-in, active users holding one of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"requires() needs roles from {ROLES}, got {roles}")
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.path.startswith("/api/"):
                    raise ApiProblem(
                        401, "authentication required", headers={"WWW-Authenticate": "Bearer"}
                    )
                return redirect(url_for("ui.login", next=request.full_path))
            if user.role not in allowed:
                if request.path.startswith("/api/"):
                    raise ApiProblem(
                        403, f"this operation needs role {' or '.join(sorted(allowed))}"
                    )
                return redirect(url_for("ui.forbidden"))
            return view(*args, **kwargs)

        setattr(wrapper, ACCESS_ATTRIBUTE, allowed)
        return wrapper  # type: ignore[return-value]

    return decorate


def current_user() -> User | None:
    """The authenticated user of this request, or None. Wrong credentials raise 401 on the API."""
    if "current_user" in g:
        return g.current_user
    user: User | None = None
    if request.path.startswith("/api/"):
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise ApiProblem(401, "invalid credentials", headers={"WWW-Authenticate": "Bearer"})
            try:
                user = user_for_token(request_session(), value.strip())
            except AuthenticationFailed:
                raise ApiProblem(
                    401, "invalid credentials", headers={"WWW-Authenticate": "Bearer"}
                ) from None
    else:
        user_id = session.get("user_id")
        if user_id is not None:
            candidate = request_session().get(User, user_id)
            if (
                candidate is not None
                and candidate.active
                and (session.get("password_hash_tag") == candidate.password_hash[-16:])
            ):
                user = candidate
            else:
                session.clear()
    # End the authentication transaction (committing the token's last-used stamp). A view
    # then starts its writes in a fresh transaction: on SQLite, a write in a transaction
    # whose read snapshot predates another connection's commit fails at once.
    request_session().commit()
    g.current_user = user
    return user


def actor_name() -> str:
    """How the signed-in user appears in audit trails and ledger events."""
    user = current_user()
    return user.username if user else "anonymous"


def record_action(
    action: str,
    *,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Append an audit-log entry for the signed-in user and commit the request's session,
    so the entry lands in the same transaction as the view's own writes."""
    user = current_user()
    record(
        request_session(),
        user.username if user else "anonymous",
        action,
        target=target,
        details=details,
        reason=reason,
    )
    request_session().commit()


def access_rule(view: Callable[..., Any]) -> object | None:
    return getattr(view, ACCESS_ATTRIBUTE, None)
