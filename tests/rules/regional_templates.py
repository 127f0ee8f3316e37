"""Builders for the regional and legal tests: realistic mails as ParsedTemplate."""

from __future__ import annotations

from datetime import datetime

from selectolax.lexbor import LexborHTMLParser

from rules.model import Finding, ParsedTemplate

US_FOOTER = (
    '<p>Acme Outfitters Inc., 123 Main St, Springfield, IL 62701</p>'
    '<p>You receive this mail because you joined our list. '
    '<a href="https://acme.example/unsubscribe?u=8f2c">Unsubscribe</a></p>'
)


def template(
    subject: str,
    html: str = "",
    text: str = "",
    *,
    languages: tuple[str, ...] = ("en",),
    countries: tuple[str, ...] = (),
    send_at: datetime | None = None,
) -> ParsedTemplate:
    """A parsed template whose visible text is what lexbor shows of ``html``."""
    visible = ""
    if html:
        body = LexborHTMLParser(html).body
        visible = body.text(separator="\n", strip=True) if body is not None else ""
    return ParsedTemplate(
        subject=subject,
        html=html,
        text=text,
        visible_text=visible,
        languages=languages,
        countries=countries,
        send_at=send_at,
    )


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}
