"""State shared by CLI commands: settings and runtime, opened lazily once per invocation."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click

from web.config import Settings, load_settings
from web.runtime import Runtime


class ConfigFailure(click.ClickException):
    """A configuration problem: one line, exit status 2."""

    exit_code = 2


@dataclass
class CliState:
    _settings: Settings | None = None
    _runtime: Runtime | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def runtime(self, *, check: bool = True) -> Runtime:
        """The runtime over keys and database; with ``check``, the database must be current."""
        if self._runtime is None:
            self._runtime = Runtime.from_settings(self.settings)
            if check:
                self._runtime.check_database()
        return self._runtime


def cli_state() -> CliState:
    return CliState()


pass_state = click.make_pass_decorator(CliState)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")
