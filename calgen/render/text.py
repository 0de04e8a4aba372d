"""Runbook text is Markdown; feeds and plain-text mail show it without the markup."""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt


@cache
def _parser() -> MarkdownIt:
    # commonmark with raw HTML off: runbook text never carries markup of its own.
    return MarkdownIt("commonmark", {"html": False})


def plain(markdown: str) -> str:
    """`Er is *geen* conversie` -> `Er is geen conversie`, line by line.

    Only inline markup is removed; list markers and paragraph breaks stay as they are,
    since plain text shows them well.
    """
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
