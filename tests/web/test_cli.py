"""The `sendgate` command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from web.cli import cli


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"SENDGATE_VAR_DIR": str(tmp_path / "var"), "SENDGATE_DATABASE_URL": database_url}


def invoke(env: dict[str, str], *args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    for command in ("init", "run", "serve", "scheduler", "users", "tokens", "config"):
        assert f"  {command} " in result.output
    users_help = CliRunner().invoke(cli, ["users", "--help"]).output
    for sub in ("create", "list", "disable"):
        assert sub in users_help
    tokens_help = CliRunner().invoke(cli, ["tokens", "--help"]).output
    assert "create" in tokens_help and "revoke" in tokens_help


def test_init_is_idempotent_and_keys_are_private(env: dict[str, str], tmp_path: Path) -> None:
    first = invoke(env, "init")
    assert first.exit_code == 0, first.output
    assert "(created)" in first.output
    keys = tmp_path / "var" / "secrets.json"
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    before = keys.read_bytes()
    second = invoke(env, "init")
    assert second.exit_code == 0
    assert "(kept)" in second.output
    assert keys.read_bytes() == before


def test_users_and_tokens(env: dict[str, str]) -> None:
    invoke(env, "init")
    created = invoke(env, "users", "create", "ana", "--role", "compliance")
    assert created.exit_code == 0
    assert "one-time password:" in created.output
    stdin = invoke(
        env,
        "users",
        "create",
        "ben",
        "--role",
        "marketer",
        "--password-stdin",
        input="a long enough password\n",
    )
    assert stdin.exit_code == 0 and "one-time" not in stdin.output
    short = invoke(
        env, "users", "create", "cy", "--role", "marketer", "--password-stdin", input="short\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    duplicate = invoke(env, "users", "create", "ana", "--role", "admin")
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output

    listing = invoke(env, "users", "list", "--json")
    assert {u["username"] for u in __import__("json").loads(listing.output)} == {"ana", "ben"}

    token = invoke(env, "tokens", "create", "ana", "--name", "reports")
    assert token.exit_code == 0
    bearer = token.output.strip().splitlines()[-1]
    assert bearer.startswith("sg_")
    token_id = bearer.split("_")[1]
    assert token_id in invoke(env, "tokens", "list").output
    assert invoke(env, "tokens", "revoke", token_id).exit_code == 0
    assert "revoked" in invoke(env, "tokens", "list", "--user", "ana").output
    assert invoke(env, "tokens", "revoke", "nope").exit_code == 1

    disabled = invoke(env, "users", "disable", "ben")
    assert disabled.exit_code == 0
    assert "disabled" in invoke(env, "users", "list").output


def test_commands_before_init_say_what_to_do(env: dict[str, str]) -> None:
    result = invoke(env, "users", "list")
    assert result.exit_code == 2
    assert "run `sendgate init` first" in result.output


def test_bad_setting_stops_with_one_line(tmp_path: Path) -> None:
    environment = {**os.environ, "SENDGATE_VAR_DIR": str(tmp_path), "SENDGATE_PROT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "init"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "Error: SENDGATE_PROT: unknown setting (did you mean SENDGATE_PORT?)"
    )


def test_unreachable_database_stops_with_one_line(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "SENDGATE_VAR_DIR": str(tmp_path),
        "SENDGATE_DATABASE_URL": "postgresql+psycopg://me:pw@127.0.0.1:1/none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "init"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "Error: SENDGATE_DATABASE_URL: database postgresql+psycopg://me:***@"
    )
    assert ":pw@" not in result.stderr


def test_config_show_hides_passwords(env: dict[str, str]) -> None:
    result = invoke({**env, "SENDGATE_UPSTREAM_PASSWORD": "hunter2hunter2"}, "config", "show")
    assert "SENDGATE_UPSTREAM_PASSWORD=********" in result.output
    assert "hunter2" not in result.output
    assert "SENDGATE_DNS_TIMEOUT" in invoke(env, "config", "vars").output
