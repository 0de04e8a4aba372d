"""Runbook text is Markdown; feeds and plain-text mail show it without the markup.

Links that come from data (Markdown links, a contact's `web`) pass one allow-list of URL
schemes, `safe_url`, wherever they are shown: pages, runbook.md and e-mails. Markdown
images become plain links, so no page or message loads anything from elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# The schemes a link from data may have; anything else (javascript:, data:, file:,
# vbscript:, …) is shown as text. A URL without a scheme is relative, and allowed.
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Browsers drop tabs and line breaks inside URLs and leading control characters and
# spaces (`java\tscript:`): a URL with any of them is refused outright.
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def safe_url(url: str) -> str | None:
    """`url` when its scheme is allowed (or it is relative), else None."""
    if not url or _CONTROL.search(url):
        return None
    scheme = _SCHEME.match(url)
    if scheme is None:
        # no scheme before the first `/`, `?` or `#`: a relative reference
        return url if ":" not in re.split(r"[/?#]", url, maxsplit=1)[0] else None
    return url if scheme.group(1).lower() in ALLOWED_SCHEMES else None


def web_href(web: str) -> str | None:
    """The link for a contact's `web` value (`www.example.nl` means https), or None
    when it must not be a link."""
    web = web.strip()
    if _SCHEME.match(web) is None and "." in web.split("/", 1)[0]:
        web = f"https://{web}"
    return safe_url(web)


def _image_as_link(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """An image becomes a link to it: nothing loads from outside."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or str(
        token.attrGet("src") or ""
    )
    return f'<a href="{_escape_html(str(token.attrGet("src") or ""))}">{_escape_html(alt)}</a>'


def _build(*, checked: bool) -> MarkdownIt:
    from markdown_it import MarkdownIt  # imported when first needed: it is not small

    # commonmark with raw HTML off: runbook text never carries markup of its own.
    parser = MarkdownIt("commonmark", {"html": False})
    if checked:
        parser.validateLink = lambda url: safe_url(url) is not None  # type: ignore[method-assign]
        parser.add_render_rule("image", _image_as_link)
    else:  # every link as a reader without a check of its own would take it
        parser.validateLink = lambda url: True  # type: ignore[method-assign]
    return parser


@cache
def _parser() -> MarkdownIt:
    return _build(checked=True)


@cache
def _permissive() -> MarkdownIt:
    """Every link as written, to find those a Markdown reader must not get."""
    return _build(checked=False)


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
            # an image shows as its alt text: nothing is loaded, in no reader
            "".join(
                t.content
                for t in children
                if t.type in ("text", "code_inline", "html_inline", "image")
            )
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


def _unsafe_links(markdown: str) -> bool:
    """Whether a Markdown reader would see an image or a link outside the allow-list."""
    if "[" not in markdown:
        return False
    stack = list(_permissive().parse(markdown))
    while stack:
        token = stack.pop()
        if token.type == "image":
            return True
        if token.type == "link_open" and safe_url(str(token.attrGet("href") or "")) is None:
            return True
        stack.extend(token.children or ())
    return False


@cache
def md_safe(markdown: str) -> str:
    """Runbook text for a Markdown document: its Markdown kept, but `<` and `>` as
    entities, so no renderer can take text for HTML (`<script>` shows as text); text
    with an image or a link outside the allow-list has all its brackets escaped, so it
    shows as written and links nowhere."""
    if _unsafe_links(markdown):
        markdown = markdown.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return markdown.replace("<", "&lt;").replace(">", "&gt;")


def md_cell(markdown: str) -> str:
    """Text safe on one Markdown line (a table cell, a heading, a contact line): `|`
    escaped, line breaks as spaces, and what md_safe does."""
    cell = " ".join(str(markdown).replace("\\", "\\\\").replace("|", "\\|").split())
    return md_safe(cell)
