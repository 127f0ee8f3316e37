"""Style sheets of an HTML part: which declarations ``<style>`` blocks give each element.

Only what decides whether text can be seen is kept (display, visibility, opacity,
size with overflow, font size, colours); everything else a sheet says is ignored.
Selectors are matched by lexbor against the parsed tree, so any selector a mail
client understands counts. Rules inside at-rules (``@media``, ``@supports``) apply
only on some screens or clients, so they are left out: a ``display:none`` for
small screens does not hide text from everyone. Pseudo-elements style generated
content, not the element's text, and are skipped too.

The cascade is the standard one, reduced to what a mail part needs: a sheet's
declarations apply by specificity and then source order; an inline ``style``
attribute overrides them, unless the sheet's declaration is ``!important``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tinycss2
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

# Properties that can make text invisible or unreadable (see rules._html).
RELEVANT_PROPERTIES = frozenset({
    "display", "visibility", "mso-hide", "opacity", "overflow", "height", "max-height",
    "width", "max-width", "font-size", "color", "background", "background-color",
})  # fmt: skip
# Bounds on the work one message can ask for: a sheet is parsed once, but each rule
# is one selector query over the whole tree.
MAX_SHEET_CHARS = 200_000
MAX_RULES = 400

Declarations = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SheetStyle:
    """What the sheets say about one element: normal and ``!important`` declarations,
    each in cascade order (a later pair overrides an earlier one of the same name)."""

    normal: Declarations
    important: Declarations


@dataclass(frozen=True)
class _Rule:
    selector: str
    specificity: tuple[int, int, int]
    order: int
    normal: Declarations
    important: Declarations


def sheet_styles(tree: LexborHTMLParser) -> dict[int, SheetStyle]:
    """Per element (by ``mem_id``), the declarations the document's style sheets give it."""
    css = "\n".join(node.text(deep=True) for node in tree.css("style"))[:MAX_SHEET_CHARS]
    if not css.strip():
        return {}
    matched: dict[int, list[_Rule]] = {}
    for rule in _relevant_rules(css):
        try:
            nodes = tree.css(rule.selector)
        except SelectolaxError:
            continue  # a selector lexbor cannot parse matches nothing in a mail client either
        for node in nodes:
            matched.setdefault(node.mem_id, []).append(rule)
    styles: dict[int, SheetStyle] = {}
    for element, element_rules in matched.items():
        element_rules.sort(key=lambda r: (r.specificity, r.order))
        styles[element] = SheetStyle(
            tuple(pair for r in element_rules for pair in r.normal),
            tuple(pair for r in element_rules for pair in r.important),
        )
    return styles


def _relevant_rules(css: str) -> list[_Rule]:
    rules: list[_Rule] = []
    top_level = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    for order, node in enumerate(top_level):
        if len(rules) >= MAX_RULES:
            break
        if node.type != "qualified-rule":
            continue  # at-rules, and parse errors tinycss2 reports as nodes
        normal: list[tuple[str, str]] = []
        important: list[tuple[str, str]] = []
        for item in tinycss2.parse_blocks_contents(
            node.content, skip_comments=True, skip_whitespace=True
        ):
            if item.type != "declaration" or item.lower_name not in RELEVANT_PROPERTIES:
                continue
            value = tinycss2.serialize(item.value).strip().lower()
            (important if item.important else normal).append((item.lower_name, value))
        if not normal and not important:
            continue
        for selector in _split_selectors(tinycss2.serialize(node.prelude)):
            if "::" in selector or re.search(r":(?:before|after|first-line|first-letter)\b",
                                             selector):
                continue
            rules.append(
                _Rule(selector, _specificity(selector), order, tuple(normal), tuple(important))
            )
    return rules


def _split_selectors(prelude: str) -> list[str]:
    """A selector list split at its top-level commas (not those inside ``()`` or ``[]``)."""
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(prelude):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(prelude[start:index])
            start = index + 1
    parts.append(prelude[start:])
    return [part.strip() for part in parts if part.strip()]


_IDS = re.compile(r"#[\w-]+")
_CLASSES = re.compile(r"\.[\w-]+|\[[^\]]*\]|:(?!not\b|is\b|where\b)[\w-]+")
_TYPES = re.compile(r"(?:^|[\s>+~(,])([a-zA-Z][\w-]*)")


def _specificity(selector: str) -> tuple[int, int, int]:
    """(ids, classes/attributes/pseudo-classes, types), as CSS Selectors level 3 counts."""
    without_attributes = re.sub(r"\[[^\]]*\]", "[]", selector)
    return (
        len(_IDS.findall(without_attributes)),
        len(_CLASSES.findall(selector)),
        len(_TYPES.findall(without_attributes)),
    )
