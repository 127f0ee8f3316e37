"""`sendgate init | serve | scheduler | run | config`: setting up and running the service."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import click

import db
from consent.redaction import redact_addresses
from web import accounts
from web.cli.context import CliState, emit_json, pass_state
from web.config import FIELDS, Settings, describe_settings, env_name
from web.keys import ensure_keys
from web.runtime import Runtime

FIRST_ADMIN = "admin"
SECRET_FIELDS = {"upstream_password"}


class AddressRedactingFormatter(logging.Formatter):
    """Formats records with every email address replaced: API paths, upstream replies and
    exception texts can carry one, and no address may reach a log."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_addresses(super().format(record))


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        AddressRedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)


def initialise(settings: Settings) -> tuple[Runtime, bool]:
    """Create var/, the keys file and the schema as needed. Safe to run any number of times."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.var_dir, 0o700)
    _, created = ensure_keys(settings.resolved_secrets_file)
    if settings.upstream.startswith("maildir:"):
        outbox = settings.upstream[len("maildir:") :]
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(outbox, sub), exist_ok=True)
    rt = Runtime.from_settings(settings)
    try:
        rt.database.ping()
        db.upgrade(rt.database)
    except db.DatabaseError as exc:
        raise click.ClickException(f"{env_name('database_url')}: {exc}") from None
    return rt, created


@click.command("init")
@pass_state
def init(state: CliState) -> None:
    """Create the keys file and apply all database migrations (idempotent)."""
    settings = state.settings
    rt, created = initialise(settings)
    click.echo(f"keys: {settings.resolved_secrets_file} ({'created' if created else 'kept'})")
    click.echo(f"database: {rt.database.display_url} (schema current)")


@click.command("serve")
@click.option("--host", help="Bind address (default SENDGATE_HOST).")
@click.option("--port", type=int, help="Port (default SENDGATE_PORT).")
@click.option("--workers", type=int, help="Worker processes (default SENDGATE_WORKERS).")
@pass_state
def serve(state: CliState, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the web UI and JSON API with gunicorn."""
    from gunicorn.app.base import BaseApplication

    settings = state.settings
    configure_logging(settings)
    state.runtime()  # fail here, with one line, rather than in every worker

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host or settings.host}:{port or settings.port}")
            self.cfg.set("workers", workers or settings.workers)
            self.cfg.set("accesslog", None)  # client addresses are personal data
            self.cfg.set("errorlog", "-")
            self.cfg.set("proc_name", "sendgate-web")
            self.cfg.set("timeout", 60)
            self.cfg.set("post_worker_init", warm_scorer)
            if "control_socket_disable" in self.cfg.settings:
                # One shared socket in $HOME would make two instances on a host collide.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            from web import create_app

            return create_app(settings)

    Server().run()


@click.command("scheduler")
@pass_state
def scheduler(state: CliState) -> None:
    """Run the scheduled jobs (run exactly one scheduler per deployment)."""
    from web.scheduler import run_scheduler

    configure_logging(state.settings)
    run_scheduler(state.runtime())


def warm_scorer(_worker: object) -> None:
    """Build the template scorer in the background of a fresh web worker.

    Loading rule packs, spaCy pipelines and the language models takes seconds;
    doing it at worker start keeps that off the first scoring request.
    """

    def build() -> None:
        from rules import TemplateInput, score_template

        # A short subject-only text loads the short-text language models as well.
        score_template(TemplateInput(subject="Welcome", text="Thank you for joining us."))

    threading.Thread(target=build, name="scorer-warm-up", daemon=True).start()


def ensure_first_admin(rt: Runtime) -> str | None:
    """Create the first admin when there is no user; returns a one-time password to show."""
    with rt.database.session() as session:
        if accounts.count_users(session):
            return None
        password = None
        if sys.stdin.isatty():
            click.echo(f"No users yet: creating the first admin, {FIRST_ADMIN!r}.")
            password = click.prompt(
                "Password (12+ characters)", hide_input=True, confirmation_prompt=True
            )
        _, generated = accounts.create_user(session, FIRST_ADMIN, "admin", password, actor="init")
        return generated


@click.command("run")
@pass_state
def run(state: CliState) -> None:
    """Initialise if needed, then run the web service and the scheduler together (laptop mode)."""
    settings = state.settings
    rt, _ = initialise(settings)
    one_time = ensure_first_admin(rt)
    rt.database.dispose()
    if settings.is_embedded:
        click.secho(
            "DEVELOPMENT MODE: embedded SQLite database and/or a local Maildir outbox "
            f"({settings.upstream}); no mail leaves this machine.",
            fg="yellow",
            bold=True,
            err=True,
        )
    url = f"http://{settings.host}:{settings.port}/"
    click.echo(f"sendgate is starting at {url}")
    if one_time:
        click.echo(f"sign in as {FIRST_ADMIN!r} with the one-time password: {one_time}")
        click.echo("(you will be asked to choose your own password)")
    children = {
        name: subprocess.Popen([sys.executable, "-m", "web.cli", name])  # noqa: S603
        for name in ("serve", "scheduler")
    }

    def stop(_signum: int, _frame: Any) -> None:
        for child in children.values():
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    while all(child.poll() is None for child in children.values()):
        time.sleep(0.5)
    for name, child in children.items():
        if child.poll() not in (None, 0, -signal.SIGTERM):
            click.echo(f"{name} exited with status {child.returncode}", err=True)
            exit_code = 1
    stop(0, None)
    for child in children.values():
        child.wait(timeout=30)
    sys.exit(exit_code)


@click.group("config")
def config() -> None:
    """Inspect the configuration."""


@config.command("vars")
def config_vars() -> None:
    """List every SENDGATE_* setting with its default and meaning."""
    for variable, default, doc in describe_settings():
        click.echo(f"{variable}\n    {doc}" + (f"\n    default: {default}" if default else ""))


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def config_show(state: CliState, as_json: bool) -> None:
    """Print the effective settings (passwords hidden)."""
    settings = state.settings
    values: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(settings, name)
        if name in SECRET_FIELDS and value:
            value = "********"
        elif name == "database_url":
            value = db.redact(value)
        values[name] = (
            list(value) if isinstance(value, tuple) else (str(value) if value is not None else None)
        )
    if as_json:
        emit_json(values)
        return
    for name, value in values.items():
        click.echo(f"{env_name(name)}={value if value is not None else ''}")


commands = [init, serve, scheduler, run, config]
