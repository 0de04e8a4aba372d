"""The Jinja environment every document, feed text and e-mail is rendered with.

Templates live in the top-level `templates/` folder of the repository, which the wheel
carries as `calgen/templates`. A user's `--templates DIR` is searched first, so a single
template can be overridden. StrictUndefined everywhere: a misspelt variable is an error,
never an empty string in a published document.
"""

from __future__ import annotations

import contextlib
from functools import cache as memoize
from pathlib import Path

import jinja2
import markupsafe
from jinja2.bccache import Bucket

from calgen.core import cache, dutch
from calgen.render.page import text


def builtin_templates() -> Path:
    # the package's folder, as importlib.resources.files("calgen") gives it for a package
    # on disk, without importing importlib.resources (some 5 ms of every build)
    packaged = Path(__file__).parents[1] / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"  # a source checkout


class _Compiled(jinja2.FileSystemBytecodeCache):
    """Jinja's own cache of compiled templates, but a file is read as calgen reads its
    cache (calgen.core.cache.read_file: a regular file, not through a symlink, bounded, and
    never one another user could have written: it is code that would run), and one that
    cannot be read, loaded or written only means the template is compiled again: the
    cache never fails a render. Once the cache is refused nothing more is read or written."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            data = cache.read_file(Path(self._get_cache_filename(bucket)))
            if data is not None:
                bucket.bytecode_from_string(data)  # Jinja checks it against the source
        except Exception:  # a damaged file: pickle and marshal raise anything
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        if not cache.in_use():
            return
        with contextlib.suppress(OSError):  # e.g. the folder was removed meanwhile
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates are kept between runs (Jinja checks each against its source)."""
    folder = cache.jinja_folder(jinja2.__version__)
    return _Compiled(str(folder)) if folder else None


@memoize
def environment(user_dir: Path | None = None) -> jinja2.Environment:
    search = ([str(user_dir)] if user_dir else []) + [str(builtin_templates())]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        # HTML is escaped; plain-text outputs (feed descriptions, text mail) are not.
        autoescape=jinja2.select_autoescape(
            ["html", "htm", "xml", "svg", "html.j2", "svg.j2", "xml.j2"], default_for_string=False
        ),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date_long"] = dutch.date_long
    env.filters["date_plain"] = dutch.date_plain
    env.filters["time_of"] = dutch.time_of
    env.filters["plain"] = text.plain
    # markdown-it-py escapes HTML in its input (html=False): its output is safe markup
    env.filters["md"] = lambda value: markupsafe.Markup(text.html_block(value))
    env.filters["md_inline"] = lambda value: markupsafe.Markup(text.html_inline(value))
    env.filters["md_cell"] = text.md_cell
    env.filters["md_safe"] = text.md_safe
    env.filters["web_href"] = text.web_href  # a contact's `web` as a link, or None
    env.globals["when"] = dutch.when
    return env
