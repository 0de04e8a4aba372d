"""Runbook text is Markdown; feeds and plain-text mail show it without the markup."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # imported when first needed: it is not small

    # commonmark with raw HTML off: runbook text never carries markup of its own.
    return MarkdownIt("commonmark", {"html": False})


# Characters that can start inline Markdown in CommonMark (emphasis, code, links, images,
# autolinks, raw HTML, entities, escapes). Text without them renders as itself.
_INLINE_MARKUP = frozenset("\\`*_[]!<&")


def _is_plain(text: str) -> bool:
    return "\n" not in text and _INLINE_MARKUP.isdisjoint(text)


def _escape_html(text: str) -> str:
    """markdown-it's escapeHtml: & < > " (not the apostrophe)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


@cache  # the same text is shown in every role's view and feed: convert it once
def plain(markdown: str) -> str:
    """`Er is *geen* conversie` -> `Er is geen conversie`, line by line.

    Only inline markup is removed; list markers and paragraph breaks stay as they are,
    since plain text shows them well.
    """
    if _is_plain(markdown.strip()):
        return markdown.strip()  # nothing to remove: skip the parser
    lines = []
    for line in markdown.strip().splitlines():
        tokens = _parser().parseInline(line)
        children = tokens[0].children or [] if tokens else []
        lines.append(
            "".join(t.content for t in children if t.type in ("text", "code_inline", "html_inline"))
            if line.strip()
            else ""
        )
    return "\n".join(lines)


@cache
def html_block(markdown: str) -> str:
    """Paragraphs and lists as HTML. Raw HTML in the text is escaped, never passed on."""
    return str(_parser().render(markdown.strip()))


@cache
def html_inline(markdown: str) -> str:
    """One line of Markdown (a table cell, a note) as inline HTML."""
    text = markdown.strip()
    if _is_plain(text):
        return _escape_html(text)  # what markdown-it would make of it, without parsing
    return str(_parser().renderInline(text))


def md_safe(markdown: str) -> str:
    """Runbook text for a Markdown document: its Markdown kept, but `<` and `>` as
    entities, so no renderer can take text for HTML (`<script>` shows as text)."""
    return markdown.replace("<", "&lt;").replace(">", "&gt;")


def md_cell(markdown: str) -> str:
    """Text safe inside a Markdown table cell: `|` escaped, line breaks as spaces."""
    cell = " ".join(markdown.replace("\\", "\\\\").replace("|", "\\|").split())
    return md_safe(cell)
