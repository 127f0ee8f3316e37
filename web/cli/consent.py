"""`sendgate consent ...` and `sendgate ledger ...`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from consent import (
    ConsentError,
    ImportFormatError,
    InvalidInput,
    LedgerEmpty,
    SubjectNotFound,
    jsonable,
)
from web.accounts import record
from web.cli.context import CliState, emit_json, pass_state

ACTOR = "cli"


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("consent")
def consent() -> None:
    """Record, import, look up, prove and erase consent."""


@consent.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--purpose", required=True, help="Purpose the list consented to, e.g. marketing-email."
)
@click.option(
    "--check-deliverability",
    is_flag=True,
    help="Also check that each domain can receive mail (DNS).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"accepted": n, "rejected": [{"line": k, "reason": "..."}], ...}.',
)
@pass_state
def import_command(
    state: CliState, file: Path, purpose: str, check_deliverability: bool, as_json: bool
) -> None:
    """Import a CSV list: column email required; optional consented_at, source, ip,
    consent_text_version, country, language, timezone. Rows without consented_at and
    source are recorded as consent without evidence. Exit 1 when any row was rejected."""
    rt = state.runtime()
    try:
        result = rt.consent.import_csv(
            file, purpose, actor=ACTOR, check_deliverability=check_deliverability
        )
    except (ImportFormatError, InvalidInput) as exc:
        raise _fail(exc) from None
    with rt.database.session() as session:
        record(
            session,
            ACTOR,
            "consent.import",
            target=f"purpose:{purpose}",
            details={"accepted": result.accepted, "rejected": len(result.rejected)},
        )
    if as_json:
        emit_json(result.as_dict())
    else:
        click.echo(
            f"accepted {result.accepted}, duplicates {result.duplicates}, "
            f"without evidence {result.without_evidence}, rejected {len(result.rejected)}"
        )
        for column in result.ignored_columns:
            click.echo(f"ignored column: {column}")
        for row in result.rejected:
            click.echo(f"line {row.line}: {row.reason}")
    if result.rejected:
        sys.exit(1)


@consent.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def show(state: CliState, email: str, as_json: bool) -> None:
    """Current state per purpose and the full timeline of EMAIL."""
    rt = state.runtime()
    try:
        timeline = rt.consent.timeline(email)
    except (InvalidInput, SubjectNotFound) as exc:
        raise _fail(exc) from None
    with rt.database.session() as session:
        record(session, ACTOR, "consent.subject.view", target=f"subject:{timeline.subject}")
    if as_json:
        emit_json(jsonable(timeline))
        return
    click.echo(f"subject {timeline.subject}" + ("  (erased)" if timeline.erased else ""))
    if timeline.suppression:
        click.echo(
            f"suppressed since {timeline.suppression.since:%Y-%m-%d}: {timeline.suppression.reason}"
        )
    for st in timeline.states:
        evidence = "" if st.has_evidence else "  WITHOUT EVIDENCE"
        click.echo(f"{st.purpose}: {st.status}{' (valid)' if st.valid else ''}{evidence}")
    click.echo("events:")
    for ev in timeline.events:
        click.echo(
            f"  #{ev.seq} {ev.occurred_at:%Y-%m-%d %H:%M} {ev.purpose or '-'} "
            f"{ev.action} via {ev.method} by {ev.actor}"
            + ("" if ev.has_evidence else "  (no evidence)")
        )


@consent.command("proof")
@click.argument("email")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the proof document (JSON).",
)
@pass_state
def proof(state: CliState, email: str, output: Path) -> None:
    """Write a proof of EMAIL's consent events against a signed tree head; check it with
    `python -m consent.verify FILE`."""
    rt = state.runtime()
    try:
        document = rt.consent.proof(email)
    except (InvalidInput, SubjectNotFound, LedgerEmpty) as exc:
        raise _fail(exc) from None
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    with rt.database.session() as session:
        record(session, ACTOR, "consent.proof", target=f"subject:{rt.consent.subject_id(email)}")
    click.echo(f"proof of {len(document.get('events', []))} event(s) written to {output}")


@consent.command("erase")
@click.argument("email")
@click.option("--reason", required=True, help="Why, e.g. the data-subject request reference.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def erase(state: CliState, email: str, reason: str, yes: bool) -> None:
    """Erase EMAIL under GDPR article 17: destroy its key, record `erased`, keep it
    suppressed."""
    if not yes:
        click.confirm("This cannot be undone. Erase?", abort=True)
    rt = state.runtime()
    try:
        subject_id = rt.consent.subject_id(email)
        event = rt.consent.erase(email, actor=ACTOR)
    except (InvalidInput, SubjectNotFound) as exc:
        raise _fail(exc) from None
    if event is None:
        raise click.ClickException("this address was erased already")
    with rt.database.session() as session:
        record(session, ACTOR, "consent.erase", target=f"subject:{subject_id}", reason=reason)
    click.echo(f"erased; event #{event.seq}")


@consent.group("texts")
def texts() -> None:
    """Consent texts: what people were shown when they consented."""


@texts.command("add")
@click.option("--purpose", required=True)
@click.option("--version", "text_version", required=True, help="Your version label, e.g. 2026-11.")
@click.option("--language", required=True, help="BCP 47 tag, e.g. en or de-CH.")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@pass_state
def texts_add(state: CliState, purpose: str, text_version: str, language: str, file) -> None:  # type: ignore[no-untyped-def]
    """Record the text in FILE as a new immutable consent-text version."""
    rt = state.runtime()
    try:
        text = rt.consent.add_consent_text(purpose, text_version, language, file.read())
    except ConsentError as exc:
        raise _fail(exc) from None
    click.echo(f"text {text.id}: {purpose} {text_version} {language} sha256 {text.sha256}")


@texts.command("list")
@click.option("--purpose")
@pass_state
def texts_list(state: CliState, purpose: str | None) -> None:
    """List consent-text versions."""
    for text in state.runtime().consent.consent_texts(purpose):
        click.echo(
            f"{text.id:>4} {text.purpose:<24} {text.version:<12} {text.language:<6} "
            f"{text.sha256[:16]}…"
        )


@consent.group("purposes")
def purposes() -> None:
    """Purposes consent is given for."""


@purposes.command("list")
@pass_state
def purposes_list(state: CliState) -> None:
    """List purposes with their re-permission period."""
    for p in state.runtime().consent.purposes():
        click.echo(
            f"{p.name:<28} re-permission after {p.repermission_months} months  {p.description}"
        )


@purposes.command("add")
@click.argument("name")
@click.option("--description", default="")
@click.option(
    "--repermission-months",
    type=click.IntRange(1, 240),
    help="Consent expires after this many months without reconfirmation.",
)
@pass_state
def purposes_add(
    state: CliState, name: str, description: str, repermission_months: int | None
) -> None:
    """Add purpose NAME."""
    try:
        state.runtime().consent.add_purpose(name, description, repermission_months)
    except ConsentError as exc:
        raise _fail(exc) from None
    click.echo(f"added purpose {name}")


@click.group("ledger")
def ledger() -> None:
    """The consent log: signed tree heads and verification."""


@ledger.command("verify")
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"ok", "size", "first_bad_seq", "reason"}.'
)
@pass_state
def ledger_verify(state: CliState, as_json: bool) -> None:
    """Recompute every leaf, the tree, every signed tree head and the consistency between
    consecutive heads. Exit 1 when anything does not hold."""
    result = state.runtime().consent.verify()
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "size": result.size,
                "first_bad_seq": result.first_bad_seq,
                "reason": result.reason,
            }
        )
    elif result.ok:
        click.echo(f"ok: {result.size} events, {result.tree_heads_checked} signed tree heads")
    else:
        click.echo(f"NOT OK at seq {result.first_bad_seq}: {result.reason}")
    if not result.ok:
        sys.exit(1)


@ledger.command("head")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--sign", is_flag=True, help="Sign the current head first.")
@pass_state
def ledger_head(state: CliState, as_json: bool, sign: bool) -> None:
    """Print the latest signed tree head."""
    ledger_ = state.runtime().consent
    try:
        head = ledger_.make_signed_tree_head() if sign else ledger_.latest_tree_head()
    except LedgerEmpty as exc:  # only latest_tree_head: signing an empty log is allowed
        raise _fail(exc) from None
    if as_json:
        emit_json(jsonable(head))
        return
    click.echo(f"size {head.tree_size}  root {head.root_hash}")
    click.echo(f"signed {head.timestamp_ms} ms  key {head.public_key}")
    click.echo(f"signature {head.signature}")


commands = [consent, ledger]
