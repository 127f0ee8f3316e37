"""Structural checks: the Python side of ``kind: structure`` rules.

Each check reads a :class:`StructureContext` and the rule's ``params`` (data
from the pack) and returns detections: evidence plus location. A check that
finds nothing returns an empty list. ``STRUCTURE_CHECKS`` maps the check names
packs may use to a params validator, so a pack with a typo fails at load time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from rules._html import HtmlAnalysis, TextSegment
from rules.model import Location, Part

Detection = tuple[str, Location | None]
Params = Mapping[str, Any]

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)
# ASCII text splits into the same words faster: non-word characters become spaces.
_ASCII_NON_WORD_TO_SPACE = str.maketrans(
    {chr(c): " " for c in range(128) if not re.fullmatch(r"\w", chr(c))})
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_EMOJI = re.compile(
    "[\U0001f300-\U0001faff\U0001f000-\U0001f2ff\u2600-\u27bf\u2b50\u2b55\u2b06\u2b07"
    "\u2934\u2935\u3030\u303d\u3297\u3299]"
)
_URL_LIKE_TEXT = re.compile(r"^(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?$")
# A URL written out in plain text (text part), as mail clients would link it.
TEXT_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"})


@dataclass(frozen=True)
class StructureContext:
    """The parsed template as structural checks see it."""

    subject: str
    html: HtmlAnalysis | None
    text: str
    languages: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]

    @property
    def body_part(self) -> Part:
        return "html" if self.html is not None else "text"

    @property
    def reader_text(self) -> str:
        """The text a reader sees first: the HTML's visible text, else the text part."""
        return self.html.visible_text if self.html is not None else self.text

    @cached_property
    def collapsed_reader_text(self) -> str:
        """``reader_text`` with white space collapsed, computed once for all checks."""
        return _collapsed(self.reader_text)

    @cached_property
    def text_urls(self) -> tuple[tuple[str, int, int], ...]:
        """URLs written out in the text part with their spans, found once: the
        case-insensitive search costs a scan of the whole part each time."""
        return tuple((m.group(0), m.start(), m.end()) for m in TEXT_URL.finditer(self.text))


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    """Params patterns are case-sensitive unless they say ``(?i)``: a US state code
    or a UK postcode is only recognisable in capitals."""
    return re.compile(pattern)


def _collapsed(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _segment_location(segment: TextSegment) -> Location:
    return Location("html", segment.raw_start, segment.raw_end)


@lru_cache(maxsize=4096)
def _host(href: str) -> str | None:
    try:
        host = urlsplit(href).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def _base_domain(host: str) -> str:
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


# --- body text ------------------------------------------------------------------


def short_visible_text(ctx: StructureContext, params: Params) -> list[Detection]:
    text = ctx.collapsed_reader_text
    if not text and ctx.html is None:
        return [("the message has no body", Location("text"))]
    cjk = len(_CJK.findall(text)) > len(text) / 3
    minimum = int(params.get("min_chars_cjk" if cjk else "min_chars", 500))
    if len(text) >= minimum:
        return []
    return [(f"{len(text)} characters of visible text (at least {minimum} expected)",
             Location(ctx.body_part))]


def image_only(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None or not ctx.html.images:
        return []
    text = ctx.collapsed_reader_text
    if len(text) > int(params.get("max_text_chars", 50)):
        return []
    first = ctx.html.images[0]
    return [(f"{len(ctx.html.images)} image(s) and {len(text)} characters of text",
             Location("html", first.raw_start, first.raw_end))]


def low_text_image_ratio(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None:
        return []
    images = len(ctx.html.images)
    text = len(ctx.collapsed_reader_text)
    image_only_limit = int(params.get("max_text_chars_for_image_only", 50))
    if images < int(params.get("min_images", 2)) or text <= image_only_limit:
        return []
    per_image = text / images
    minimum = float(params.get("min_chars_per_image", 150))
    if per_image >= minimum:
        return []
    return [(f"{text} characters of text for {images} images "
             f"({per_image:.0f} per image, at least {minimum:.0f} expected)", Location("html"))]


def missing_text_part(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None or ctx.text.strip():
        return []
    return [("HTML part without a plain-text alternative", Location("text"))]


def _word_set(text: str, limit: int) -> set[str]:
    text = text[:limit].lower()
    if text.isascii():
        return set(text.translate(_ASCII_NON_WORD_TO_SPACE).split())
    if len(_CJK.findall(text)) > len(text) / 3:
        chars = [c for c in text if not c.isspace()]
        return {a + b for a, b in pairwise(chars)}
    return set(_WORD.findall(text))


def text_html_mismatch(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None or not ctx.text.strip():
        return []
    limit = int(params.get("compare_chars", 20000))
    html_words = _word_set(ctx.html.visible_text, limit)
    text_words = _word_set(ctx.text, limit)
    if len(html_words) + len(text_words) < int(params.get("min_words", 20)):
        return []
    union = html_words | text_words
    similarity = len(html_words & text_words) / len(union) if union else 1.0
    minimum = float(params.get("min_similarity", 0.4))
    if similarity >= minimum:
        return []
    return [(f"text and HTML parts share {similarity:.0%} of their words "
             f"(at least {minimum:.0%} expected)", Location("text"))]


def _hidden_segments(ctx: StructureContext, kind: str) -> list[TextSegment]:
    if ctx.html is None:
        return []
    selected = []
    for segment in ctx.html.hidden:
        reason = segment.hidden or ""
        if reason.startswith("font-size"):
            segment_kind = "tiny"
        elif reason.startswith("text colour"):
            segment_kind = "contrast"
        else:
            segment_kind = "hidden"
        if segment_kind == kind:
            selected.append(segment)
    return selected


def hidden_text(ctx: StructureContext, params: Params) -> list[Detection]:
    segments = _hidden_segments(ctx, "hidden")
    if not segments:
        return []
    # One short hidden block is the usual inbox preview text ("preheader"), not a trick.
    allowance = int(params.get("preheader_chars", 150))
    if len(segments) == 1 and len(_collapsed(segments[0].text)) <= allowance:
        return []
    total = sum(len(_collapsed(s.text)) for s in segments)
    if total <= allowance:
        return []
    first = segments[1] if len(_collapsed(segments[0].text)) <= allowance else segments[0]
    return [(f"{total} characters of hidden text ({first.hidden}): "
             f"{_collapsed(first.text)[:80]!r}", _segment_location(first))]


def tiny_text(ctx: StructureContext, params: Params) -> list[Detection]:
    segments = [s for s in _hidden_segments(ctx, "tiny")
                if len(_collapsed(s.text)) >= int(params.get("min_chars", 3))]
    if not segments:
        return []
    return [(f"{segments[0].hidden}: {_collapsed(segments[0].text)[:80]!r}",
             _segment_location(segments[0]))]


def low_contrast_text(ctx: StructureContext, params: Params) -> list[Detection]:
    segments = [s for s in _hidden_segments(ctx, "contrast")
                if len(_collapsed(s.text)) >= int(params.get("min_chars", 3))]
    if not segments:
        return []
    return [(f"{_collapsed(segments[0].text)[:80]!r}", _segment_location(segments[0]))]


# --- links and active content ----------------------------------------------------


def link_domain_mismatch(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None:
        return []
    found: list[Detection] = []
    for link in ctx.html.links:
        shown = _URL_LIKE_TEXT.match(_collapsed(link.text).lower())
        target = _host(link.href)
        if not shown or not target or not link.href.lower().startswith(("http:", "https:")):
            continue
        if _base_domain(shown.group(1)) != _base_domain(target):
            found.append((f"link text shows {shown.group(1)} but points to {target}",
                          Location("html", link.raw_start, link.raw_end)))
    return found[:1]


def _could_be_ip(host: str) -> bool:
    """False for hosts ``ipaddress`` must reject: an IPv6 address has a colon, an
    IPv4 one only digits and dots. Saves raising and catching two exceptions for
    every ordinary domain name."""
    return ":" in host or not host.strip("[]").strip("0123456789.")


def raw_ip_link(ctx: StructureContext, params: Params) -> list[Detection]:
    for href, location in _all_links(ctx):
        host = _host(href)
        if not host or not _could_be_ip(host):
            continue
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue
        return [(f"link to IP address {host}", location)]
    return []


def javascript_link(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None:
        return []
    for link in ctx.html.links:
        if _WS.sub("", link.href).lower().startswith(("javascript:", "vbscript:")):
            return [(link.href[:80], Location("html", link.raw_start, link.raw_end))]
    return []


def active_element(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None:
        return []
    tags = set(params.get("tags", ()))
    for element in ctx.html.active:
        if element.tag in tags:
            return [(element.detail[:120], Location("html", element.raw_start, element.raw_end))]
    return []


def too_many_links(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None:
        return []
    maximum = int(params.get("max_links", 40))
    count = len(ctx.html.links)
    if count <= maximum:
        return []
    return [(f"{count} links (at most {maximum} expected)", Location("html"))]


def _all_links(ctx: StructureContext) -> list[tuple[str, Location]]:
    links: list[tuple[str, Location]] = []
    if ctx.html is not None:
        links.extend((link.href, Location("html", link.raw_start, link.raw_end))
                     for link in ctx.html.links)
    links.extend((url, Location("text", start, end)) for url, start, end in ctx.text_urls)
    return links




def missing_unsubscribe(ctx: StructureContext, params: Params) -> list[Detection]:
    phrases = [p.lower() for group in dict(params.get("phrases", {})).values() for p in group]
    if ctx.html is not None:
        for link in ctx.html.links:
            haystack = f"{link.text} {link.href}".lower()
            if any(phrase in haystack for phrase in phrases):
                return []
    lowered = ctx.text.lower()
    if ctx.text_urls or "mailto:" in lowered:
        for phrase in phrases:
            if phrase in lowered:
                return []
    return [("no unsubscribe link found", Location(ctx.body_part))]


def missing_postal_address(ctx: StructureContext, params: Params) -> list[Detection]:
    text = f"{ctx.reader_text}\n{ctx.text}" if ctx.html is not None else ctx.text
    for group in dict(params.get("patterns", {})).values():
        for pattern in group:
            if _compiled(pattern).search(text):
                return []
    return [("no postal address found", Location(ctx.body_part))]


def missing_list_unsubscribe_header(ctx: StructureContext, params: Params) -> list[Detection]:
    if not ctx.headers:
        return []  # a template without headers is checked by the relay, which adds them
    names = {name.lower() for name, _ in ctx.headers}
    wanted = [str(h).lower() for h in params.get("headers", ["List-Unsubscribe"])]
    missing = [h for h in wanted if h not in names]
    if not missing:
        return []
    return [(f"missing header(s): {', '.join(missing)}", Location("headers"))]


# --- subject and title -----------------------------------------------------------


def subject_empty(ctx: StructureContext, params: Params) -> list[Detection]:
    return [("empty subject", Location("subject", 0, 0))] if not ctx.subject.strip() else []


def subject_too_long(ctx: StructureContext, params: Params) -> list[Detection]:
    maximum = int(params.get("max_chars", 60))
    if len(ctx.subject) <= maximum:
        return []
    return [(f"{len(ctx.subject)} characters (mobile clients show about {maximum})",
             Location("subject", maximum, len(ctx.subject)))]


def fake_reply_subject(ctx: StructureContext, params: Params) -> list[Detection]:
    # A real reply carries In-Reply-To or References; a campaign template never does.
    if any(name.lower() in ("in-reply-to", "references") for name, _ in ctx.headers):
        return []
    match = _compiled(str(params.get("pattern", ""))).search(ctx.subject)
    if match is None:
        return []
    return [(match.group(0), Location("subject", match.start(), match.end()))]


def subject_all_caps(ctx: StructureContext, params: Params) -> list[Detection]:
    letters = [c for c in ctx.subject if c.isalpha() and (c.isupper() or c.islower())]
    if len(letters) < int(params.get("min_letters", 8)):
        return []
    upper = sum(1 for c in letters if c.isupper())
    ratio = float(params.get("min_upper_ratio", 0.7))
    if upper / len(letters) < ratio:
        return []
    return [(f"{upper / len(letters):.0%} capital letters",
             Location("subject", 0, len(ctx.subject)))]


def emoji_storm(ctx: StructureContext, params: Params) -> list[Detection]:
    part = params.get("part", "subject")
    if part == "subject":
        text, location_part = ctx.subject, "subject"
    elif ctx.html is not None:
        text, location_part = ctx.html.visible_text, "html"
    else:
        text, location_part = ctx.text, "text"
    emojis = list(_EMOJI.finditer(text))
    maximum = int(params.get("max_emoji", 3))
    if len(emojis) <= maximum:
        return []
    first = emojis[0]
    if location_part == "html" and ctx.html is not None:
        start, end = ctx.html.raw_span(first.start(), emojis[-1].end())
        location = Location("html", start, end)
    else:
        location = Location(location_part, first.start(), emojis[-1].end())  # type: ignore[arg-type]
    return [(f"{len(emojis)} emoji (at most {maximum} expected)", location)]


def _stems(text: str, length: int) -> set[str]:
    return {word[:length] for word in _word_set(text, 1000) if len(word) >= 3 or _CJK.match(word)}


def title_subject_mismatch(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None or not ctx.html.title or not ctx.subject.strip():
        return []
    # Titles paraphrase subjects ("Welcome aboard" / "Welcome to Northwind"), so
    # a shared word stem is enough; only an unrelated title (often a leftover
    # from another mailing or a placeholder) is reported.
    stem = int(params.get("stem_chars", 4))
    title_stems = _stems(ctx.html.title, stem)
    subject_stems = _stems(ctx.subject, stem)
    if not title_stems or title_stems & subject_stems:
        return []
    span = ctx.html.title_span or (None, None)
    return [(f"title {ctx.html.title[:80]!r} differs from the subject",
             Location("html", span[0], span[1]))]


def broken_html(ctx: StructureContext, params: Params) -> list[Detection]:
    if ctx.html is None or len(ctx.html.problems) < int(params.get("min_problems", 1)):
        return []
    first = ctx.html.problems[0]
    more = len(ctx.html.problems) - 1
    evidence = first.message + (f" (and {more} more problem(s))" if more else "")
    return [(evidence, Location("html", first.raw_start, first.raw_end))]


# --- registry -------------------------------------------------------------------


def _no_params(params: Params) -> None:
    del params


def _language_lists(params: Params, key: str, *, regex: bool) -> None:
    groups = params.get(key)
    if not isinstance(groups, dict) or not groups:
        raise ValueError(f"params.{key} must map languages to lists")
    for language, values in groups.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"params.{key}.{language} must be a non-empty list")
        for value in values:
            if not isinstance(value, str) or not value:
                raise ValueError(f"params.{key}.{language}: {value!r} is not a string")
            if regex:
                try:
                    re.compile(value)
                except re.error as error:
                    raise ValueError(f"params.{key}.{language}: bad regular expression "
                                     f"{value!r}: {error}") from error


def _pattern(params: Params) -> None:
    pattern = params.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("params.pattern must be a regular expression")
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"params.pattern: bad regular expression {pattern!r}: {error}") from error


def _tags(params: Params) -> None:
    tags = params.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise ValueError("params.tags must be a non-empty list of tag names")


Check = Callable[[StructureContext, Params], list[Detection]]
Validator = Callable[[Params], None]

STRUCTURE_CHECKS: dict[str, tuple[Check, Validator]] = {
    "short_visible_text": (short_visible_text, _no_params),
    "image_only": (image_only, _no_params),
    "low_text_image_ratio": (low_text_image_ratio, _no_params),
    "missing_text_part": (missing_text_part, _no_params),
    "text_html_mismatch": (text_html_mismatch, _no_params),
    "hidden_text": (hidden_text, _no_params),
    "tiny_text": (tiny_text, _no_params),
    "low_contrast_text": (low_contrast_text, _no_params),
    "link_domain_mismatch": (link_domain_mismatch, _no_params),
    "raw_ip_link": (raw_ip_link, _no_params),
    "javascript_link": (javascript_link, _no_params),
    "active_element": (active_element, _tags),
    "too_many_links": (too_many_links, _no_params),
    "missing_unsubscribe": (missing_unsubscribe,
                            lambda p: _language_lists(p, "phrases", regex=False)),
    "missing_postal_address": (missing_postal_address,
                               lambda p: _language_lists(p, "patterns", regex=True)),
    "missing_list_unsubscribe_header": (missing_list_unsubscribe_header, _no_params),
    "subject_empty": (subject_empty, _no_params),
    "subject_too_long": (subject_too_long, _no_params),
    "subject_all_caps": (subject_all_caps, _no_params),
    "fake_reply_subject": (fake_reply_subject, _pattern),
    "emoji_storm": (emoji_storm, _no_params),
    "title_subject_mismatch": (title_subject_mismatch, _no_params),
    "broken_html": (broken_html, _no_params),
}
