"""`sendgate users ...` and `sendgate tokens ...`."""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from web import accounts
from web.cli.context import CliState, emit_json, pass_state

ACTOR = "cli"


def _fail(exc: accounts.AccountError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def users() -> None:
    """Manage user accounts (roles: marketer, compliance, admin)."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True, help="The user's role.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating a one-time password.",
)
@pass_state
def users_create(state: CliState, username: str, role: str, password_stdin: bool) -> None:
    """Create USERNAME. Without --password-stdin a one-time password is printed; the user
    must change it at first sign-in."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    rt = state.runtime()
    try:
        with rt.database.session() as session:
            _, generated = accounts.create_user(session, username, role, password, actor=ACTOR)
    except accounts.AccountError as exc:
        raise _fail(exc) from None
    click.echo(f"created {role} {username}")
    if generated:
        click.echo(f"one-time password: {generated}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def users_list(state: CliState, as_json: bool) -> None:
    """List users with role and status."""
    with state.runtime().database.session() as session:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "active": u.active,
                "created_at": u.created_at.isoformat(),
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in accounts.list_users(session)
        ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        status = "active" if row["active"] else "disabled"
        click.echo(
            f"{row['username']:<24} {row['role']:<11} {status:<9} last login: "
            f"{row['last_login_at'] or 'never'}"
        )


def _set_active(state: CliState, username: str, active: bool) -> None:
    try:
        with state.runtime().database.session() as session:
            accounts.set_active(session, username, active, actor=ACTOR)
    except accounts.AccountError as exc:
        raise _fail(exc) from None


@users.command("disable")
@click.argument("username")
@pass_state
def users_disable(state: CliState, username: str) -> None:
    """Disable USERNAME and revoke all of its API tokens."""
    _set_active(state, username, False)
    click.echo(f"disabled {username}; its tokens are revoked")


@users.command("enable")
@click.argument("username")
@pass_state
def users_enable(state: CliState, username: str) -> None:
    """Enable USERNAME again (revoked tokens stay revoked)."""
    _set_active(state, username, True)
    click.echo(f"enabled {username}")


@click.group()
def tokens() -> None:
    """Manage API bearer tokens (stored only as hashes)."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. 'crm-sync'.")
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Expire after this many days.")
@pass_state
def tokens_create(state: CliState, username: str, name: str, expires_days: int | None) -> None:
    """Create a token for USERNAME and print it once."""
    try:
        with state.runtime().database.session() as session:
            user = accounts.get_user(session, username)
            token, bearer = accounts.create_token(
                session,
                user,
                name,
                expires_in=timedelta(days=expires_days) if expires_days else None,
                actor=ACTOR,
            )
            public_id = token.public_id
    except accounts.AccountError as exc:
        raise _fail(exc) from None
    click.echo(f"token {public_id} for {username} (shown once, store it now):", err=True)
    click.echo(bearer)


@tokens.command("revoke")
@click.argument("token_id")
@pass_state
def tokens_revoke(state: CliState, token_id: str) -> None:
    """Revoke the token with id TOKEN_ID (the part after 'sg_')."""
    try:
        with state.runtime().database.session() as session:
            accounts.revoke_token(session, token_id, actor=ACTOR)
    except accounts.AccountError as exc:
        raise _fail(exc) from None
    click.echo(f"revoked {token_id}")


@tokens.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def tokens_list(state: CliState, username: str | None, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    try:
        with state.runtime().database.session() as session:
            user = accounts.get_user(session, username) if username else None
            rows = [
                {
                    "id": t.public_id,
                    "user": t.user.username,
                    "name": t.name,
                    "created_at": t.created_at.isoformat(),
                    "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                    "revoked": t.revoked_at is not None,
                }
                for t in accounts.list_tokens(session, user)
            ]
    except accounts.AccountError as exc:
        raise _fail(exc) from None
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        state_text = "revoked" if row["revoked"] else f"expires {row['expires_at'] or 'never'}"
        click.echo(f"{row['id']}  {row['user']:<20} {row['name']:<24} {state_text}")


commands = [users, tokens]
