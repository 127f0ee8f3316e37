"""`sendgate score`: score template files (.eml, .html, .txt) in one process."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path

import click

from rules import Scorer, TemplateInput, parse_eml
from rules.regional import UnknownCountryError, validate_countries
from web.cli.senders import FAIL_LEVELS

SUFFIXES = (".eml", ".html", ".htm", ".txt")


def decode_text_file(data: bytes) -> str:
    """Text of an .html/.txt file: UTF-8 (with or without BOM), else Windows-1252.

    Windows-1252 decodes every byte sequence but five; those are replaced, so a
    file in an unexpected encoding is still scored rather than refused.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_send_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date-time", param_hint="--send-at"
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} needs a UTC offset, e.g. {value}+00:00", param_hint="--send-at"
        )
    return moment


def template_from_file(
    path: Path, subject: str | None, countries: tuple[str, ...], send_at: datetime | None
) -> TemplateInput:
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".eml":
        template = parse_eml(data)
        if subject is not None:
            template = dataclasses.replace(template, subject=subject)
    elif suffix in {".html", ".htm"}:
        template = TemplateInput(subject=subject or "", html=decode_text_file(data))
    else:
        template = TemplateInput(subject=subject or "", text=decode_text_file(data))
    return dataclasses.replace(template, countries=countries, send_at=send_at)


@click.command("score")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--subject", help="Subject line (overrides the subject of .eml files).")
@click.option(
    "--country",
    "countries",
    multiple=True,
    metavar="CC",
    help="Target country, ISO 3166-1 alpha-2 (repeatable).",
)
@click.option(
    "--send-at", help="Planned send time, ISO 8601 with offset, e.g. 2026-12-01T09:00+01:00."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per file, with its 'file'.")
@click.option(
    "--fail-on",
    type=click.Choice(list(FAIL_LEVELS)),
    default="block",
    show_default=True,
    help="Exit 1 when any file's verdict reaches this level.",
)
def score(
    files: tuple[Path, ...],
    subject: str | None,
    countries: tuple[str, ...],
    send_at: str | None,
    as_json: bool,
    fail_on: str,
) -> None:
    """Score template FILES (.eml, .html or .txt): spam signals with every hit explained
    and located, plus regional and legal fit for each --country."""
    for path in files:
        if path.suffix.lower() not in SUFFIXES:
            raise click.BadParameter(
                f"{path}: expected one of {', '.join(SUFFIXES)}", param_hint="FILES"
            )
    try:
        targets = validate_countries(countries)
    except UnknownCountryError as exc:
        raise click.BadParameter(str(exc), param_hint="--country") from None
    moment = parse_send_at(send_at)
    scorer = Scorer()
    failed = False
    for path in files:
        result = scorer.score(template_from_file(path, subject, targets, moment))
        failed = failed or result.verdict in FAIL_LEVELS[fail_on]
        if as_json:
            sys.stdout.write(
                json.dumps({"file": str(path), **result.to_dict()}, ensure_ascii=False) + "\n"
            )
            continue
        click.echo(
            f"{path}: {result.verdict.upper()}  score {result.score:.1f} / "
            f"{result.threshold:.1f}  language {result.language or 'unknown'}"
        )
        for hit in result.hits:
            where = ""
            if hit.location is not None:
                where = f" [{hit.location.part}"
                if hit.location.start is not None:
                    where += f" {hit.location.start}-{hit.location.end}"
                where += "]"
            click.echo(f"  {hit.weight:+5.1f} {hit.rule}{where}: {hit.message}")
            if hit.evidence:
                click.echo(f"        evidence: {hit.evidence[:120]}")
        for finding in result.findings:
            scope = f" ({', '.join(finding.countries)})" if finding.countries else ""
            click.echo(f"  {finding.severity.upper():5} {finding.code}{scope}: {finding.message}")
        for note in result.unchecked:
            click.echo(f"  not checked: {note}")
    if failed:
        sys.exit(1)


commands = [score]
