"""The ``sendgate`` command line.

Each area adds its commands in its own module listed in ``COMMAND_MODULES``
(a module exposes ``commands``, a list of click commands or groups).
Configuration errors end the command with one line naming the setting, exit 2.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from web.cli.context import ConfigFailure, cli_state
from web.config import ConfigError

COMMAND_MODULES = [
    "web.cli.service",
    "web.cli.accounts",
    "web.cli.consent",
    "web.cli.senders",
    "web.cli.templates",
]


class SendgateGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise ConfigFailure(str(exc)) from None


@click.group(cls=SendgateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sendgate")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """sendgate: consent ledger, sender audits, template scoring and an SMTP gate for
    marketing email.

    Settings come from SENDGATE_* environment variables and an optional TOML file
    named by SENDGATE_CONFIG; `sendgate config vars` lists them all.
    """
    ctx.obj = cli_state()


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).commands:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="sendgate")
