"""`sendgate audit sender`, `sendgate spf check-host` and `sendgate senders ...`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from auditor import (
    DEFAULT_PROFILE,
    AuditorError,
    SenderSpec,
    audit_sender,
    check_host,
    profile_names,
    render_text,
)
from auditor import registry as senders
from web.accounts import record
from web.cli.context import CliState, emit_json, pass_state
from web.runtime import make_resolver

FAIL_LEVELS = {"block": ("block",), "warn": ("block", "warn"), "never": ()}

Command = Callable[..., Any]


class UsageProblem(click.UsageError):
    """Bad input: exit status 2, as for any usage error."""


def _options(*options: Callable[[Command], Command]) -> Callable[[Command], Command]:
    def apply(function: Command) -> Command:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


# What describes a sender: shared by `audit sender` and `senders add`.
sender_spec_options = _options(
    click.argument("domain"),
    click.option("--ip", "ips", multiple=True, help="A fixed sending IP (repeatable)."),
    click.option(
        "--dkim-selector", "selectors", multiple=True, help="A DKIM selector (repeatable)."
    ),
    click.option("--helo", help="The HELO/EHLO name the sending hosts use."),
    click.option("--from-domain", help="Visible From domain, if it differs from DOMAIN."),
    click.option(
        "--profile",
        type=click.Choice(profile_names()),
        default=DEFAULT_PROFILE,
        show_default=True,
        help="Severity profile.",
    ),
)

nameserver_option = click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    metavar="HOST[:PORT]",
    help="DNS server to ask instead of SENDGATE_NAMESERVERS (repeatable).",
)


def sender_spec(
    domain: str,
    ips: tuple[str, ...],
    selectors: tuple[str, ...],
    helo: str | None,
    from_domain: str | None,
) -> SenderSpec:
    try:
        return SenderSpec(
            domain=domain, ips=ips, dkim_selectors=selectors, helo=helo, from_domain=from_domain
        )
    except AuditorError as exc:
        raise UsageProblem(str(exc)) from None


@click.group("audit")
def audit() -> None:
    """Audit senders against live DNS."""


@audit.command("sender")
@sender_spec_options
@nameserver_option
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON.")
@click.option(
    "--fail-on",
    type=click.Choice(list(FAIL_LEVELS)),
    default="block",
    show_default=True,
    help="Exit 1 when the verdict reaches this level.",
)
@pass_state
def audit_sender_command(
    state: CliState,
    domain: str,
    ips: tuple[str, ...],
    selectors: tuple[str, ...],
    helo: str | None,
    from_domain: str | None,
    profile: str,
    nameservers: tuple[str, ...],
    as_json: bool,
    fail_on: str,
) -> None:
    """Audit DOMAIN: SPF (with check_host for each IP), DKIM, DMARC, PTR/FCrDNS, HELO,
    DNSBL listings, MX/MTA-STS/TLS-RPT/BIMI. Exit 0, 1 when the verdict reaches
    --fail-on, 2 on usage errors."""
    spec = sender_spec(domain, ips, selectors, helo, from_domain)
    settings = state.settings
    result = audit_sender(
        spec,
        resolver=make_resolver(settings, nameservers),
        dnsbl_zones=settings.dnsbl_zones,
        profile=profile,
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(render_text(result), nl=False)
    if result.verdict in FAIL_LEVELS[fail_on]:
        sys.exit(1)


@click.group("spf")
def spf() -> None:
    """SPF tools."""


@spf.command("check-host")
@click.argument("ip")
@click.argument("sender")
@click.option("--helo", help="HELO name (used for %{h} and when SENDER has no domain).")
@nameserver_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def spf_check_host(
    state: CliState,
    ip: str,
    sender: str,
    helo: str | None,
    nameservers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Evaluate RFC 7208 check_host(IP, domain of SENDER, SENDER) and print the result.
    Exit 0 when the result is pass, 1 otherwise."""
    resolver = make_resolver(state.settings, nameservers)
    try:
        result = check_host(ip, sender, helo or "", resolver=resolver)
    except (AuditorError, ValueError) as exc:
        raise UsageProblem(str(exc)) from None
    if as_json:
        emit_json(
            {
                "ip": ip,
                "sender": sender,
                "result": result.result,
                "explanation": result.explanation,
                "mechanism": result.mechanism,
                "domain": result.domain,
                "dns_lookups": result.dns_lookups,
                "void_lookups": result.void_lookups,
                "problem": result.problem,
            }
        )
    else:
        detail = result.problem or result.explanation
        decided = f" by {result.mechanism}" if result.mechanism else ""
        click.echo(f"{result.result}{decided}" + (f": {detail}" if detail else ""))
    if result.result != "pass":
        sys.exit(1)


@click.group("senders")
def senders_group() -> None:
    """Register senders and keep their audit history."""


@senders_group.command("add")
@sender_spec_options
@pass_state
def senders_add(
    state: CliState,
    domain: str,
    ips: tuple[str, ...],
    selectors: tuple[str, ...],
    helo: str | None,
    from_domain: str | None,
    profile: str,
) -> None:
    """Register DOMAIN as a sender."""
    spec = sender_spec(domain, ips, selectors, helo, from_domain)
    try:
        with state.runtime().database.session() as session:
            sender = senders.register_sender(session, spec, actor="cli", profile=profile)
            record(session, "cli", "sender.register", target=f"sender:{sender.domain}")
            sender_id = sender.id
    except senders.SenderExists as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"registered sender {spec.domain} (id {sender_id})")


@senders_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def senders_list(state: CliState, as_json: bool) -> None:
    """List registered senders with their latest verdict."""
    with state.runtime().database.session() as session:
        rows = [
            {
                "id": s.id,
                "domain": s.domain,
                "ips": s.ips,
                "dkim_selectors": s.dkim_selectors,
                "helo": s.helo,
                "profile": s.profile,
                "latest_verdict": s.audits[0].verdict if s.audits else None,
            }
            for s in senders.list_senders(session)
        ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['domain']:<40} {row['latest_verdict'] or 'not audited'}")


@senders_group.command("audit")
@click.argument("sender")
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON.")
@pass_state
def senders_audit(state: CliState, sender: str, as_json: bool) -> None:
    """Audit the registered SENDER (id or domain) now and store the result."""
    rt = state.runtime()
    with rt.database.session() as session:
        try:
            recorded = senders.audit_registered(
                session,
                sender,
                resolver=rt.dns_resolver,
                dnsbl_zones=rt.settings.dnsbl_zones,
                trigger="cli",
                actor="cli",
            )
        except senders.UnknownSender as exc:
            raise click.ClickException(str(exc)) from None
        audit_id = recorded.audit.id
    if as_json:
        emit_json(
            {
                **recorded.result.to_dict(),
                "audit_id": audit_id,
                "drift": recorded.drift.to_dict() if recorded.drift else None,
            }
        )
        return
    click.echo(render_text(recorded.result), nl=False)
    if recorded.drift is not None and recorded.drift.changed:
        for item in recorded.drift.appeared:
            click.echo(f"  new since last audit: {item.code} ({item.subject})")
        for item in recorded.drift.cleared:
            click.echo(f"  cleared since last audit: {item.code} ({item.subject})")
    click.echo(f"stored as audit {audit_id}")


commands = [audit, spf, senders_group]
