"""The only module that writes: renders every runbook and puts the result in `dist/`.

Everything is rendered in memory first, so a runbook that fails writes nothing. Files
whose bytes did not change are not touched; changed ones are replaced atomically
(temporary file + rename) so a subscriber never downloads half a feed.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from calgen.diff import Snapshot, compare, from_json, snapshot, to_json
from calgen.model import Runbook
from calgen.render.document import render_documents, render_index
from calgen.render.ics import PRODID, render_feeds
from calgen.render.revise import revise
from calgen.templating import environment


def render_all(
    runbooks: Iterable[Runbook],
    *,
    base_url: str = "",
    templates: Path | None = None,
    prodid: str = PRODID,
    history: Mapping[str, Mapping[str, Snapshot]] | None = None,
) -> dict[str, bytes]:
    """Relative output path -> bytes, for every runbook, plus the site's index page.

    `history` holds the snapshots of earlier versions (read_history): a runbook page shows
    the changes since the previous version of its version table when that one is known.
    """
    env = environment(templates)
    outputs: dict[str, bytes] = {}
    listed = []
    for runbook in runbooks:
        changes = None
        if runbook.versions:
            current = runbook.versions[0].version
            outputs[f"{runbook.id}/versies/{current}.json"] = to_json(
                current, snapshot(runbook)
            ).encode("utf-8")
            earlier = (history or {}).get(runbook.id, {})
            if len(runbook.versions) > 1 and runbook.versions[1].version in earlier:
                previous = runbook.versions[1].version
                found = compare(earlier[previous], snapshot(runbook), runbook.calendar)
                changes = (previous, tuple(str(c) for c in found))
        for name, data in render_feeds(env, runbook, prodid, base_url).items():
            outputs[f"{runbook.id}/{name}"] = data
        for name, text in render_documents(env, runbook, base_url, changes).items():
            outputs[f"{runbook.id}/{name}"] = text.encode("utf-8")
        listed.append(runbook)
    outputs["index.html"] = render_index(env, listed, base_url).encode("utf-8")
    return dict(sorted(outputs.items()))


def read_history(out_dir: Path, runbooks: Iterable[Runbook]) -> dict[str, dict[str, Snapshot]]:
    """The version snapshots already published in `out_dir/<id>/versies/`."""
    history: dict[str, dict[str, Snapshot]] = {}
    for runbook in runbooks:
        folder = out_dir / runbook.id / "versies"
        if folder.is_dir():
            history[runbook.id] = {
                path.stem: from_json(path.read_text(encoding="utf-8"))
                for path in sorted(folder.glob("*.json"))
            }
    return history


def with_history(outputs: dict[str, bytes], out_dir: Path, now: dt.datetime) -> dict[str, bytes]:
    """Every feed revised against the one it replaces in `out_dir` (calgen.render.revise)."""
    revised = {}
    for rel, data in outputs.items():
        if rel.endswith(".ics"):
            target = out_dir / rel
            previous = target.read_bytes() if target.is_file() else None
            data = revise(data, previous, now)
        revised[rel] = data
    return revised


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
