"""HTML part analysis: one tree parse (selectolax/lexbor) plus one tag scan.

The tree gives what a mail client renders: visible text, text hidden by
inline styles, links, images, active content. Lexbor does not report source
positions, so a regular-expression scan of the raw source supplies them: text
runs and start tags are aligned with the tree's nodes in document order. The
same scan keeps a tag stack to report nesting errors, which lexbor repairs
silently.
"""

from __future__ import annotations

import html as html_lib
import re
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode

from rules._css import Declarations, SheetStyle, sheet_styles

VOID_ELEMENTS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr", "basefont", "bgsound", "frame", "keygen",
})
# End tags the HTML syntax lets an author leave out; an unclosed one is not an error.
OPTIONAL_END = frozenset({
    "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup",
    "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
})
RAW_TEXT_ELEMENTS = frozenset({"script", "style", "textarea", "title", "xmp"})
BLOCK_ELEMENTS = frozenset({
    "address", "article", "aside", "blockquote", "br", "center", "dd", "div", "dl", "dt",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "th", "thead", "tr", "ul",
})
NOT_RENDERED = frozenset({"script", "style", "head", "template", "title", "meta", "link"})
# lexbor's tree building is quadratic in nesting depth (20,000 nested <div>s take
# most of a second, 100,000 half a minute); no real mail nests this deep.
MAX_NESTING = 1000
ACTIVE_ELEMENTS = frozenset({"script", "iframe", "form", "object", "embed", "frame", "applet"})

# A tag may not contain "<" (outside the HTML grammar's rare quoted "<"), so a
# stray "<" or an unclosed quote costs a scan to the next "<", never to the end
# of the document: broken input stays linear.
_MARKUP = re.compile(
    r"<(?:!--.*?(?:--!?>|\Z)|![^>]*(?:>|\Z)|\?[^>]*(?:>|\Z)"
    r"|(/?)([a-zA-Z][\w:-]*)((?:[^>\"'<]|\"[^\"<]*\"|'[^'<]*')*)>)",
    re.DOTALL,
)
_COLOR_NAMES = {
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "lime": (0, 255, 0),
    "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0), "gray": (128, 128, 128),
    "grey": (128, 128, 128), "silver": (192, 192, 192), "navy": (0, 0, 128),
    "orange": (255, 165, 0), "purple": (128, 0, 128), "whitesmoke": (245, 245, 245),
    "snow": (255, 250, 250), "ivory": (255, 255, 240), "fuchsia": (255, 0, 255),
    "aqua": (0, 255, 255), "maroon": (128, 0, 0), "teal": (0, 128, 128),
}
_HEX = re.compile(r"#([0-9a-f]{6}|[0-9a-f]{3})\b")
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})")
_SIZE = re.compile(r"^(-?[\d.]+)\s*(px|pt|em|rem|%)?")
_WS = re.compile(r"\s+")

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class TextSegment:
    """A text node's decoded text and its span in the raw source (``None`` when it
    could not be aligned). ``exact`` means the raw source equals the text, so
    offsets inside the segment map one to one."""

    text: str
    raw_start: int | None
    raw_end: int | None
    exact: bool
    hidden: str | None = None


@dataclass
class Link:
    href: str
    text: str
    raw_start: int | None
    raw_end: int | None


@dataclass(frozen=True)
class Element:
    tag: str
    detail: str
    raw_start: int | None
    raw_end: int | None


@dataclass(frozen=True)
class MarkupProblem:
    message: str
    raw_start: int
    raw_end: int


@dataclass
class HtmlAnalysis:
    """What the structural checks and the phrase matcher read from the HTML part."""

    source: str
    visible_text: str = ""
    hidden: list[TextSegment] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    images: list[Element] = field(default_factory=list)
    active: list[Element] = field(default_factory=list)
    title: str | None = None
    title_span: tuple[int, int] | None = None
    problems: list[MarkupProblem] = field(default_factory=list)
    truncated_from: int | None = None
    nesting_cut_at: int | None = None
    _offsets: list[int] = field(default_factory=list)
    _segments: list[TextSegment] = field(default_factory=list)

    def raw_span(self, start: int, end: int) -> tuple[int | None, int | None]:
        """Map a span of ``visible_text`` to a span of the raw HTML source."""
        index = bisect_right(self._offsets, start) - 1
        if index < 0:
            return None, None
        segment = self._segments[index]
        if segment.raw_start is None or segment.raw_end is None:
            return None, None
        offset = start - self._offsets[index]
        if offset + (end - start) > len(segment.text):
            return segment.raw_start, segment.raw_end
        if segment.exact:
            return segment.raw_start + offset, segment.raw_start + offset + (end - start)
        positions = _decoded_positions(self.source[segment.raw_start:segment.raw_end],
                                       segment.text)
        if positions is None:
            return segment.raw_start, segment.raw_end
        return (segment.raw_start + positions[offset],
                segment.raw_start + positions[offset + (end - start)])


_CHARREF = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")


def _decoded_positions(raw: str, decoded: str) -> list[int] | None:
    """For each offset in ``decoded`` (and its end), the offset in ``raw`` it came
    from, where ``decoded`` is ``raw`` with character references resolved.
    ``None`` when the two do not line up (then callers locate the whole run)."""
    positions: list[int] = []
    index = 0
    for match in _CHARREF.finditer(raw):
        positions.extend(range(index, match.start()))
        replacement = html_lib.unescape(match.group(0))
        positions.extend([match.start()] * len(replacement))
        index = match.end()
    positions.extend(range(index, len(raw)))
    positions.append(len(raw))
    if len(positions) != len(decoded) + 1:
        return None
    return positions


@dataclass
class _Style:
    hidden: str | None = None
    font_px: float = 16.0
    color: RGB | None = None
    background: RGB | None = None
    link: int | None = None


class _RawScan:
    """Text runs and start tags of the raw source, in order, plus nesting problems."""

    def __init__(self, source: str) -> None:
        self.text_runs: list[tuple[int, int]] = []
        self.start_tags: dict[str, list[tuple[int, int, str]]] = {}
        self.problems: list[MarkupProblem] = []
        self.too_deep_at: int | None = None
        self._scan(source)

    def _scan(self, source: str) -> None:
        stack: list[tuple[str, int, int]] = []
        position = 0
        lowered: str | None = None
        while True:
            match = _MARKUP.search(source, position)
            end_of_text = match.start() if match else len(source)
            if end_of_text > position:
                self.text_runs.append((position, end_of_text))
            if match is None:
                break
            position = match.end()
            name = match.group(2)
            if name is None:
                continue
            name = name.lower()
            if match.group(1):
                self._close(stack, name, match.start(), match.end())
                continue
            attributes = match.group(3) or ""
            self.start_tags.setdefault(name, []).append((match.start(), match.end(), attributes))
            if name in RAW_TEXT_ELEMENTS:
                if lowered is None:
                    lowered = source.lower()
                close = lowered.find(f"</{name}", position)
                if close < 0:
                    self.problems.append(MarkupProblem(f"<{name}> is never closed",
                                                       match.start(), match.end()))
                    break
                if name in ("title", "textarea"):
                    self.text_runs.append((position, close))
                close_end = source.find(">", close)
                position = close_end + 1 if close_end >= 0 else len(source)
                continue
            if name not in VOID_ELEMENTS and not attributes.rstrip().endswith("/"):
                stack.append((name, match.start(), match.end()))
                if len(stack) > MAX_NESTING and self.too_deep_at is None:
                    self.too_deep_at = match.start()
        for name, start, end in stack:
            if name not in OPTIONAL_END:
                self.problems.append(MarkupProblem(f"<{name}> is never closed", start, end))

    def _close(self, stack: list[tuple[str, int, int]], name: str, start: int, end: int) -> None:
        if name in VOID_ELEMENTS:
            return
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][0] == name:
                for open_name, open_start, _ in stack[depth + 1:]:
                    if open_name not in OPTIONAL_END:
                        self.problems.append(MarkupProblem(
                            f"</{name}> closes <{open_name}> (opened at {open_start}) "
                            "out of order", start, end))
                del stack[depth:]
                return
        self.problems.append(MarkupProblem(f"</{name}> has no matching start tag", start, end))


def analyse_html(source: str, *, max_chars: int) -> HtmlAnalysis:
    """Parse the HTML part once and collect everything the checks need.

    Never raises on malformed markup: lexbor repairs the tree and the tag scan
    reports what it repaired. Only the first ``max_chars`` characters are read.
    """
    truncated_from = None
    if len(source) > max_chars:
        truncated_from = len(source)
        source = source[:max_chars]
    analysis = HtmlAnalysis(source=source, truncated_from=truncated_from)
    scan = _RawScan(source)
    if scan.too_deep_at is not None:
        analysis.nesting_cut_at = scan.too_deep_at
        problem = MarkupProblem(f"elements nest more than {MAX_NESTING} deep",
                                scan.too_deep_at, scan.too_deep_at)
        source = source[:scan.too_deep_at]
        analysis.source = source
        scan = _RawScan(source)
        scan.problems.insert(0, problem)
    analysis.problems = scan.problems
    tree = LexborHTMLParser(source)
    title = tree.css_first("title")
    if title is not None:
        analysis.title = _WS.sub(" ", title.text()).strip()
        spans = scan.start_tags.get("title")
        if spans:
            close = source.lower().find("</title", spans[0][1])
            analysis.title_span = (spans[0][1], close if close >= 0 else spans[0][1])
    root = tree.root
    if root is not None:
        _Walker(source, scan, analysis, sheet_styles(tree)).walk(root)
    return analysis


class _Walker:
    def __init__(
        self, source: str, scan: _RawScan, analysis: HtmlAnalysis, sheet: dict[int, SheetStyle]
    ) -> None:
        self.source = source
        self.sheet = sheet
        self.scan = scan
        self.analysis = analysis
        self.run_cursor = 0
        self.tag_cursor: dict[str, int] = {}
        self.parts: list[str] = []
        self.length = 0

    def walk(self, root: LexborNode) -> None:
        stack: list[tuple[LexborNode, _Style]] = [(root, _Style())]
        while stack:
            node, style = stack.pop()
            tag = node.tag or ""
            if tag == "-text":
                self._text(node, style)
                continue
            if tag.startswith(("-", "#", "!")):
                continue  # comments, doctype, processing instructions
            attributes = node.attributes
            span = self._tag_span(tag, attributes)
            if tag in ACTIVE_ELEMENTS:
                self.analysis.active.append(Element(tag, _describe_active(tag, attributes), *span))
            if tag in NOT_RENDERED:
                continue
            child_style = self._style_of(tag, attributes, style, self.sheet.get(node.mem_id))
            if tag == "a":
                href = (attributes.get("href") or "").strip()
                self.analysis.links.append(Link(href, "", *span))
                child_style = replace(child_style, link=len(self.analysis.links) - 1)
            elif tag == "img":
                self.analysis.images.append(Element("img", attributes.get("src") or "",
                                                    *span))
            if tag in BLOCK_ELEMENTS:
                self._append("\n")
            children = list(node.iter(include_text=True))
            stack.extend((child, child_style) for child in reversed(children))
        self.analysis.visible_text = "".join(self.parts)

    def _append(self, text: str, segment: TextSegment | None = None) -> None:
        if segment is not None:
            self.analysis._offsets.append(self.length)
            self.analysis._segments.append(segment)
        self.parts.append(text)
        self.length += len(text)

    def _text(self, node: LexborNode, style: _Style) -> None:
        text = node.text_content or ""
        if not text.strip():
            if text and self.parts and not self.parts[-1].endswith((" ", "\n")):
                self._append(" ")
            return
        raw_start, raw_end, exact = self._align(text)
        reason = style.hidden
        if reason is None and style.font_px <= 2:
            reason = f"font-size {style.font_px:g}px"
        if reason is None and style.color is not None and style.background is not None \
                and _contrast(style.color, style.background) < 1.25:
            reason = "text colour matches the background"
        segment = TextSegment(text, raw_start, raw_end, exact, reason)
        if reason is not None:
            self.analysis.hidden.append(segment)
            return
        if style.link is not None:
            link = self.analysis.links[style.link]
            link.text = f"{link.text} {text}".strip() if link.text else text.strip()
        self._append(text, segment)

    def _align(self, text: str) -> tuple[int | None, int | None, bool]:
        runs = self.scan.text_runs
        for index in range(self.run_cursor, min(self.run_cursor + 8, len(runs))):
            start, end = runs[index]
            raw = self.source[start:end]
            if raw == text:
                self.run_cursor = index + 1
                return start, end, True
            decoded = html_lib.unescape(raw) if "&" in raw else raw
            if decoded.replace("\r\n", "\n") == text.replace("\r\n", "\n"):
                self.run_cursor = index + 1
                return start, end, False
        return None, None, False

    def _tag_span(self, tag: str,
                  attributes: dict[str, str | None]) -> tuple[int | None, int | None]:
        spans = self.scan.start_tags.get(tag)
        if not spans:
            return None, None
        index = self.tag_cursor.get(tag, 0)
        if index >= len(spans):
            return None, None
        key = None
        if tag in ("a", "img", "iframe", "script"):
            key = attributes.get("href") or attributes.get("src")
        if key:
            # The parser may clone or drop elements in broken markup: prefer the next
            # raw tag that carries the same attribute value.
            for candidate in range(index, min(index + 8, len(spans))):
                if key in html_lib.unescape(spans[candidate][2]):
                    index = candidate
                    break
        self.tag_cursor[tag] = index + 1
        return spans[index][0], spans[index][1]

    def _style_of(self, tag: str, attributes: dict[str, str | None],
                  parent: _Style, sheet: SheetStyle | None) -> _Style:
        if not attributes and sheet is None:
            return parent  # styles are never mutated after creation, so sharing is safe
        style = _Style(parent.hidden, parent.font_px, parent.color, parent.background,
                       parent.link)
        if "hidden" in attributes and style.hidden is None:
            style.hidden = "hidden attribute"
        bgcolor = attributes.get("bgcolor")
        if bgcolor:
            style.background = _parse_color(bgcolor) or style.background
        if tag == "font" and attributes.get("color"):
            style.color = _parse_color(attributes["color"] or "") or style.color
        raw_style = attributes.get("style")
        if not raw_style and sheet is None:
            return style
        inline = _inline_declarations(raw_style) if raw_style else ()
        # The cascade: sheet rules, then the inline style, then the sheet's !important ones.
        declared = _declared_style(
            sheet.normal + inline + sheet.important if sheet is not None else inline
        )
        if style.hidden is None:
            style.hidden = declared.hidden
        if declared.font_size:
            style.font_px = _font_px(declared.font_size, parent.font_px)
        style.color = declared.color or style.color
        style.background = declared.background or style.background
        return style


@dataclass(frozen=True)
class _DeclaredStyle:
    hidden: str | None
    font_size: str | None
    color: RGB | None
    background: RGB | None


@lru_cache(maxsize=4096)
def _inline_declarations(raw_style: str) -> Declarations:
    """The (property, value) pairs of a style attribute; cached because templates
    repeat the same inline styles on hundreds of cells."""
    pairs = []
    for declaration in raw_style.split(";"):
        name, _, value = declaration.partition(":")
        if value:
            pairs.append((name.strip().lower(), value.strip().lower()))
    return tuple(pairs)


@lru_cache(maxsize=4096)
def _declared_style(pairs: Declarations) -> _DeclaredStyle:
    """What declarations in cascade order (a later one overrides) say about visibility."""
    declarations = dict(pairs)
    background = declarations.get("background-color") or declarations.get("background")
    return _DeclaredStyle(
        hidden=_hidden_reason(declarations),
        font_size=declarations.get("font-size"),
        color=_parse_color(declarations["color"]) if "color" in declarations else None,
        background=_parse_color(background) if background else None,
    )


def _hidden_reason(declarations: dict[str, str]) -> str | None:
    if declarations.get("display", "").startswith("none"):
        return "display:none"
    if declarations.get("visibility", "").startswith(("hidden", "collapse")):
        return "visibility:hidden"
    if declarations.get("mso-hide", "").startswith("all"):
        return "mso-hide:all"
    opacity = declarations.get("opacity", "")
    if opacity and _number(opacity) == 0:
        return "opacity:0"
    if declarations.get("overflow", "").startswith("hidden"):
        for key in ("max-height", "height", "max-width", "width"):
            if key in declarations and _number(declarations[key]) == 0:
                return f"{key}:0 with overflow:hidden"
    return None


def _number(value: str) -> float | None:
    match = _SIZE.match(value)
    if not match:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def _font_px(value: str, parent_px: float) -> float:
    match = _SIZE.match(value)
    if not match:
        return parent_px
    try:
        number = float(match.group(1))
    except ValueError:
        return parent_px
    unit = match.group(2) or "px"
    if unit == "pt":
        return number * 4 / 3
    if unit == "em":
        return number * parent_px
    if unit == "rem":
        return number * 16
    if unit == "%":
        return number * parent_px / 100
    return number


def _parse_color(value: str) -> RGB | None:
    value = value.strip().lower()
    match = _HEX.search(value)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    match = _RGB.search(value)
    if match:
        r, g, b = (min(255, int(x)) for x in match.groups())
        return r, g, b
    for word in value.replace(",", " ").split():
        if word in _COLOR_NAMES:
            return _COLOR_NAMES[word]
    return None


def _luminance(color: RGB) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = color
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio, 1 (identical) to 21 (black on white)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _describe_active(tag: str, attributes: dict[str, str | None]) -> str:
    if tag == "form":
        return f"<form action={attributes.get('action') or ''!r}>"
    source = attributes.get("src") or attributes.get("data") or ""
    return f"<{tag} src={source!r}>" if source else f"<{tag}>"
