"""Result and input types of the template scorer.

These types cross package borders (the campaign gate, the relay and the web API
read them), so they are plain frozen dataclasses with a ``to_dict`` that gives
the documented JSON shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Part = Literal["subject", "html", "text", "headers"]
Severity = Literal["block", "warn", "info"]
Verdict = Literal["pass", "warn", "block"]


@dataclass(frozen=True)
class Location:
    """Where a hit was found: which part of the message and the character span in it.

    ``start``/``end`` index into the part as the scorer saw it: the raw subject,
    the raw HTML source, or the plain-text part. ``None`` span means the hit is
    about the part as a whole (e.g. "visible text under 500 characters").
    """

    part: Part
    start: int | None = None
    end: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"part": self.part, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Hit:
    """One spam-signal rule that matched, with its weight and where."""

    rule: str
    weight: float
    message: str
    evidence: str
    location: Location | None = None
    remediation: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "weight": self.weight,
            "message": self.message,
            "evidence": self.evidence,
            "location": self.location.to_dict() if self.location else None,
            "remediation": self.remediation,
        }


@dataclass(frozen=True)
class Finding:
    """A regional or legal problem for one or more target countries.

    Legal findings are ``block``, regional ones ``warn``; ``law`` names the
    statute for legal findings (e.g. "KR Network Act art. 50").
    """

    code: str
    severity: Severity
    message: str
    countries: tuple[str, ...] = ()
    law: str | None = None
    remediation: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "countries": list(self.countries),
            "law": self.law,
            "remediation": self.remediation,
        }


@dataclass(frozen=True)
class TemplateInput:
    """What a marketer submits for scoring."""

    subject: str
    html: str | None = None
    text: str | None = None
    countries: tuple[str, ...] = ()
    send_at: datetime | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ParsedTemplate:
    """The template after parsing, as the rule stages read it.

    ``visible_text`` is what a reader of the HTML part would see (scripts,
    styles and hidden elements removed); ``languages`` are the detected content
    languages (ISO 639-1), most prominent first.
    """

    subject: str
    html: str
    text: str
    visible_text: str
    languages: tuple[str, ...]
    countries: tuple[str, ...] = ()
    send_at: datetime | None = None

    @property
    def language(self) -> str | None:
        return self.languages[0] if self.languages else None

    @property
    def body_text(self) -> str:
        """All reader-visible body text: the HTML's visible text and the text part."""
        return f"{self.visible_text}\n{self.text}" if self.text else self.visible_text


@dataclass(frozen=True)
class ScoreResult:
    """The score of one template: spam hits, regional/legal findings, verdict."""

    score: float
    threshold: float
    verdict: Verdict
    language: str | None
    languages: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    findings: tuple[Finding, ...] = ()
    unchecked: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 3),
            "threshold": self.threshold,
            "verdict": self.verdict,
            "language": self.language,
            "languages": list(self.languages),
            "hits": [h.to_dict() for h in self.hits],
            "findings": [f.to_dict() for f in self.findings],
            "unchecked": list(self.unchecked),
        }
