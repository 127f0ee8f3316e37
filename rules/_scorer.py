"""The scoring engine: parse once, detect languages, run every rule kind, add up."""

from __future__ import annotations

import importlib
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from rules._html import MAX_NESTING, HtmlAnalysis, analyse_html
from rules._language import LanguageDetection
from rules._packs import SUPPORTED_LANGUAGES, Rule, RuleSet, load_packs
from rules._pipelines import LanguagePipeline, build_pipeline
from rules._policy import ScoringPolicy
from rules._prefilter import fold_case, folded_literal_sets, required_literal_sets
from rules._structure import STRUCTURE_CHECKS, StructureContext
from rules.model import Finding, Hit, Location, ParsedTemplate, Part, ScoreResult, TemplateInput

_PARAGRAPH = re.compile(r"(?:[^\n]|\n(?![ \t]*\n))+")

Mapper = Callable[[int, int], tuple[int | None, int | None]]


@dataclass(frozen=True)
class _Source:
    """One stretch of text the phrase and regex rules read, and how to locate in it."""

    part: Part
    role: str  # "subject" or "body": what ``Rule.parts`` selects
    text: str
    mapper: Mapper | None = None

    def location(self, start: int, end: int) -> Location:
        if self.mapper is None:
            return Location(self.part, start, end)
        raw_start, raw_end = self.mapper(start, end)
        return Location(self.part, raw_start, raw_end)


class _Hits:
    """First occurrence and count of each rule's matches (a rule scores once)."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[str, Location | None]] = {}
        self.count: dict[str, int] = {}

    def add(self, rule_id: str, evidence: str, location: Location | None) -> None:
        if rule_id not in self.first:
            self.first[rule_id] = (evidence, location)
        self.count[rule_id] = self.count.get(rule_id, 0) + 1


class Scorer:
    """Scores templates against the loaded rule packs; build once, reuse.

    Construction loads and validates the packs, compiles regex rules and
    prepares the language detector; spaCy pipelines are built per language on
    first need and cached (``preload_languages`` builds some up front). Texts
    under about 120 characters need lingua's large models, loaded on first
    need (about 2 s) or up front with ``preload_short_text_models=True``, which
    a long-running service should set. ``score`` may be called from many
    threads at once.
    """

    def __init__(
        self,
        *,
        policy: ScoringPolicy | None = None,
        packs_dir: Path | str | None = None,
        preload_languages: Iterable[str] = ("en",),
        preload_short_text_models: bool = False,
    ) -> None:
        self.policy = policy if policy is not None else ScoringPolicy.load()
        self.rules: RuleSet = load_packs(packs_dir)
        self._pipelines: dict[str, LanguagePipeline] = {}
        self._pipelines_lock = threading.Lock()
        self._detection = LanguageDetection()
        self._regex_rules = [(rule, [_prefiltered(pattern) for pattern in _compile(rule)])
                             for rule in self.rules.of_kind("regex")]
        self._header_rules = [(rule, _compile(rule)) for rule in self.rules.of_kind("header")]
        self._uri_rules = [(rule, _compile(rule), frozenset(rule.domains))
                           for rule in self.rules.of_kind("uri")]
        self._structure_rules = [(rule, STRUCTURE_CHECKS[rule.check][0])
                                 for rule in self.rules.of_kind("structure") if rule.check]
        for language in preload_languages:
            self.pipeline(language)
        self._detection.warm_up(short_texts=preload_short_text_models)

    def pipeline(self, language: str) -> LanguagePipeline:
        """The compiled pipeline for a supported language (built on first call)."""
        pipeline = self._pipelines.get(language)
        if pipeline is None:
            with self._pipelines_lock:
                pipeline = self._pipelines.get(language)
                if pipeline is None:
                    pipeline = build_pipeline(language, self.rules.rules.values())
                    self._pipelines[language] = pipeline
        return pipeline

    def parse(self, template: TemplateInput,
              policy: ScoringPolicy | None = None) -> tuple[ParsedTemplate, HtmlAnalysis | None,
                                                             list[str]]:
        """Parse the HTML part and detect languages; returns notes on what was skipped."""
        policy = policy or self.policy
        unchecked: list[str] = []
        subject = template.subject or ""
        text = template.text or ""
        analysis = None
        if template.html:
            analysis = analyse_html(template.html, max_chars=policy.max_html_chars)
            if analysis.truncated_from is not None:
                unchecked.append(f"html: only the first {policy.max_html_chars} of "
                                 f"{analysis.truncated_from} characters were analysed")
            if analysis.nesting_cut_at is not None:
                unchecked.append(f"html: elements nest more than {MAX_NESTING} deep; only the "
                                 f"first {analysis.nesting_cut_at} characters were analysed")
        visible = analysis.visible_text if analysis is not None else ""
        body = visible if visible.strip() else text
        shares = self._detection.shares(body) if body.strip() else []
        if not shares and subject.strip():
            shares = self._detection.shares(subject)
        total = sum(share.chars for share in shares) or 1
        languages = tuple(
            share.code for share in shares
            if share.chars / total >= policy.min_language_share
            or share.chars >= policy.min_language_chars
        )
        unsupported = [code for code in languages if code not in SUPPORTED_LANGUAGES]
        if unsupported:
            if len(unsupported) == len(languages):
                unchecked.append(f"language: unsupported (detected: {', '.join(unsupported)})"
                                 " — phrase rules not applied")
            else:
                unchecked.append(f"language: {', '.join(unsupported)} text is unsupported"
                                 " — phrase rules of that language not applied")
        elif not languages and (body.strip() or subject.strip()):
            unchecked.append("language: undetermined — phrase rules not applied")
        # Later stages get the HTML as analysed here: capped in size and cut before
        # absurd nesting, which would make any further parse of it take minutes.
        html = analysis.source if analysis is not None else ""
        parsed = ParsedTemplate(subject=subject, html=html, text=text,
                                visible_text=visible, languages=languages,
                                countries=template.countries, send_at=template.send_at)
        return parsed, analysis, unchecked

    def score(self, template: TemplateInput, *, policy: ScoringPolicy | None = None) -> ScoreResult:
        """Score one template. Never raises on bad content: what could not be
        checked is listed in ``ScoreResult.unchecked``."""
        policy = policy or self.policy
        parsed, analysis, unchecked = self.parse(template, policy)
        sources = self._sources(parsed, analysis, policy, unchecked)
        scored = [code for code in parsed.languages if code in SUPPORTED_LANGUAGES]
        hits = _Hits()
        for language in scored:
            pipeline = self.pipeline(language)
            for source in sources:
                for rule_id, start, end, matched in pipeline.match(source.text):
                    if source.role in self.rules.rules[rule_id].parts:
                        hits.add(rule_id, matched, source.location(start, end))
        self._match_regex(sources, scored, hits)
        context = StructureContext(subject=parsed.subject, html=analysis, text=parsed.text,
                                   languages=parsed.languages, headers=template.headers)
        self._match_uris(analysis, context.text_urls, hits)
        self._match_headers(template.headers, hits)
        for rule, check in self._structure_rules:
            for evidence, location in check(context, rule.params):
                hits.add(rule.id, evidence, location)
        findings, notes = _regional_findings(parsed)
        unchecked.extend(notes)
        return self._result(hits, findings, parsed, policy, unchecked)

    def _sources(self, parsed: ParsedTemplate, analysis: HtmlAnalysis | None,
                 policy: ScoringPolicy, unchecked: list[str]) -> list[_Source]:
        sources = [_Source("subject", "subject", parsed.subject[:policy.max_scan_chars])]
        if analysis is not None and analysis.visible_text.strip():
            sources.append(_Source("html", "body", analysis.visible_text, analysis.raw_span))
        if parsed.text.strip():
            if analysis is not None and analysis.visible_text.strip():
                text, mapper = _paragraphs_not_in(parsed.text, analysis.visible_text)
                if text:
                    sources.append(_Source("text", "body", text, mapper))
            else:
                sources.append(_Source("text", "body", parsed.text))
        capped = []
        for source in sources:
            if len(source.text) <= policy.max_scan_chars:
                capped.append(source)
                continue
            unchecked.append(f"{source.part}: only the first {policy.max_scan_chars} of "
                             f"{len(source.text)} characters were scanned by phrase rules")
            capped.append(_Source(source.part, source.role,
                                  source.text[:policy.max_scan_chars], source.mapper))
        return capped

    def _match_regex(self, sources: list[_Source], languages: list[str], hits: _Hits) -> None:
        # Most patterns need a literal the text lacks; a substring test on the folded
        # text is far cheaper than letting the regex engine scan the whole text.
        folded = [fold_case(source.text) for source in sources]
        for rule, patterns in self._regex_rules:
            if not any(rule.applies_to(language) for language in [*languages, "*"]):
                continue
            for source, source_folded in zip(sources, folded, strict=True):
                if source.role not in rule.parts:
                    continue
                for pattern, literal_sets, exact in patterns:
                    haystack = source.text if exact else source_folded
                    if not all(any(map(haystack.__contains__, literals))
                               for literals in literal_sets):
                        continue
                    for match in pattern.finditer(source.text):
                        hits.add(rule.id, match.group(0), source.location(*match.span()))

    def _match_uris(self, analysis: HtmlAnalysis | None,
                    text_urls: Iterable[tuple[str, int, int]], hits: _Hits) -> None:
        links: list[tuple[str, Location]] = []
        if analysis is not None:
            links.extend((link.href, Location("html", link.raw_start, link.raw_end))
                         for link in analysis.links if link.href)
        links.extend((url, Location("text", start, end)) for url, start, end in text_urls)
        for href, location in links:
            host = _host(href) or ""
            labels = host.split(".")
            suffixes = {".".join(labels[i:]) for i in range(len(labels))} if host else set()
            for rule, patterns, domains in self._uri_rules:
                if (suffixes & domains) or any(pattern.search(href) for pattern in patterns):
                    hits.add(rule.id, href[:200], location)

    def _match_headers(self, headers: tuple[tuple[str, str], ...], hits: _Hits) -> None:
        for rule, patterns in self._header_rules:
            wanted = (rule.header or "").lower()
            for name, value in headers:
                if name.lower() == wanted and any(p.search(value) for p in patterns):
                    hits.add(rule.id, f"{name}: {value}"[:200], Location("headers"))

    def _result(self, hits: _Hits, findings: list[Finding], parsed: ParsedTemplate,
                policy: ScoringPolicy, unchecked: list[str]) -> ScoreResult:
        result_hits: list[Hit] = []
        for rule_id, (evidence, location) in hits.first.items():
            if rule_id in policy.disabled_rules:
                continue
            rule: Rule = self.rules.rules[rule_id]
            count = hits.count[rule_id]
            shown = evidence if count == 1 else f"{evidence} (and {count - 1} more)"
            result_hits.append(Hit(rule=rule_id, weight=policy.weight_of(rule_id, rule.weight),
                                   message=rule.description, evidence=shown, location=location,
                                   remediation=rule.remediation))
        result_hits.sort(key=lambda hit: (-hit.weight, hit.rule))
        score = round(sum(hit.weight for hit in result_hits), 3)
        if score >= policy.threshold or any(f.severity == "block" for f in findings):
            verdict = "block"
        elif score >= policy.warn_at or any(f.severity == "warn" for f in findings):
            verdict = "warn"
        else:
            verdict = "pass"
        return ScoreResult(score=score, threshold=policy.threshold, verdict=verdict,
                           language=parsed.language, languages=parsed.languages,
                           hits=tuple(result_hits), findings=tuple(findings),
                           unchecked=tuple(unchecked))


def _paragraphs_not_in(text: str, visible: str) -> tuple[str, Mapper]:
    """The text part's paragraphs that the HTML part does not already show.

    The text part usually repeats the HTML; scanning it again doubles the cost
    and finds nothing new. Returns the remaining paragraphs joined, and a mapper
    from offsets in that string back to offsets in ``text``.
    """
    shown = " ".join(visible.split())
    pieces: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    length = 0
    for match in _PARAGRAPH.finditer(text):
        paragraph = match.group(0)
        collapsed = " ".join(paragraph.split())
        if not collapsed or collapsed in shown:
            continue
        if pieces:
            pieces.append("\n\n")
            length += 2
        starts.append(length)
        origins.append(match.start())
        pieces.append(paragraph)
        length += len(paragraph)

    def mapper(start: int, end: int) -> tuple[int | None, int | None]:
        index = max(bisect_right(starts, start) - 1, 0)
        offset = origins[index] - starts[index]
        return start + offset, end + offset

    return "".join(pieces), mapper


def _compile(rule: Rule) -> list[re.Pattern[str]]:
    """One alternation per rule: a single pass over the text instead of one per pattern."""
    if not rule.patterns:
        return []
    flags = 0 if rule.case_sensitive else re.IGNORECASE
    try:
        return [re.compile("|".join(f"(?:{pattern})" for pattern in rule.patterns), flags)]
    except re.error:
        # A pattern with global inline flags cannot sit inside an alternation.
        return [re.compile(pattern, flags) for pattern in rule.patterns]


def _prefiltered(
    pattern: re.Pattern[str],
) -> tuple[re.Pattern[str], list[frozenset[str]], bool]:
    """``pattern``, the literal sets of which it needs one member each to match, and
    whether to look for them in the text as is (a case-sensitive pattern: "FREE" but
    not "free") rather than in its ``fold_case`` form."""
    if not pattern.flags & re.IGNORECASE:
        exact = required_literal_sets(pattern.pattern, pattern.flags, keep_case=True)
        if exact:
            return pattern, exact, True
    return pattern, folded_literal_sets(pattern.pattern, pattern.flags), False


@lru_cache(maxsize=4096)
def _host(href: str) -> str | None:
    try:
        host = urlsplit(href.strip()).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def _regional_findings(parsed: ParsedTemplate) -> tuple[list[Finding], list[str]]:
    """Findings of ``rules.regional.assess``; absent module means none.

    A failing assessment must not pass a template silently: it becomes a warn
    finding and a note in ``unchecked``.
    """
    try:
        regional = importlib.import_module("rules.regional")
    except ModuleNotFoundError as error:
        if error.name == "rules.regional":
            return [], []
        return _regional_failure(parsed, error)
    try:
        return list(regional.assess(parsed)), []
    except Exception as error:  # a fault in one stage must not lose the whole score
        return _regional_failure(parsed, error)


def _regional_failure(parsed: ParsedTemplate, error: Exception) -> tuple[list[Finding], list[str]]:
    message = f"regional/legal fit could not be checked ({type(error).__name__})"
    finding = Finding(code="REGIONAL_CHECK_FAILED", severity="warn", message=message,
                      countries=parsed.countries,
                      remediation="Retry; if it persists, report the template to the operators.")
    return [finding], [message]
