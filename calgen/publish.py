"""The only module that writes: renders every runbook and puts the result in `dist/`.

Everything is rendered in memory first, so a runbook that fails writes nothing. Files
whose bytes did not change are not touched; changed ones are replaced atomically
(temporary file + rename) so a subscriber never downloads half a feed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from calgen.model import Runbook
from calgen.render.document import render_documents, render_index
from calgen.render.ics import PRODID, render_feeds
from calgen.templating import environment


def render_all(
    runbooks: Iterable[Runbook],
    *,
    base_url: str = "",
    templates: Path | None = None,
    prodid: str = PRODID,
) -> dict[str, bytes]:
    """Relative output path -> bytes, for every runbook, plus the site's index page."""
    env = environment(templates)
    outputs: dict[str, bytes] = {}
    listed = []
    for runbook in runbooks:
        for name, data in render_feeds(env, runbook, prodid, base_url).items():
            outputs[f"{runbook.id}/{name}"] = data
        for name, text in render_documents(env, runbook, base_url).items():
            outputs[f"{runbook.id}/{name}"] = text.encode("utf-8")
        listed.append(runbook)
    outputs["index.html"] = render_index(env, listed, base_url).encode("utf-8")
    return dict(sorted(outputs.items()))


def stale(outputs: dict[str, bytes], out_dir: Path) -> list[str]:
    """The outputs that are missing from `out_dir` or differ from what is there."""
    problems = []
    for rel, data in outputs.items():
        target = out_dir / rel
        if not target.is_file():
            problems.append(f"{target}: missing")
        elif target.read_bytes() != data:
            problems.append(f"{target}: stale")
    return problems


def write(outputs: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write changed outputs; returns the paths written."""
    written = []
    for rel, data in outputs.items():
        target = out_dir / rel
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
