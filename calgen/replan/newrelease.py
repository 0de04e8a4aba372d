"""`calgen new-release`: re-plan a loaded runbook for a file at another place, and write it
once it validates. The re-planning itself is calgen.replan.release; this module relates the
source's folder to the new file's (`uses:` paths, the editor's `$schema=` line)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from calgen.replan import release
from calgen.runbook.model import Runbook
from calgen.runbook.validate import load_runbook


def plan(
    source: Path,
    runbook: Runbook,
    out: Path,
    *,
    go_live: dt.datetime,
    new_from: str,
    new_to: str,
    new_id: str | None,
    today: dt.date,
) -> release.Plan:
    """The plan for writing `source` (loaded as `runbook`), re-planned, to `out`.
    Raises release.ReleaseError when it cannot be re-planned."""
    source_dir = source.resolve().parent
    out_dir = out.resolve().parent
    uses = [os.path.relpath(source_dir / u, out_dir) for u in runbook.uses]
    result = release.replan(
        source.read_text(encoding="utf-8"),
        runbook,
        go_live=go_live,
        new_from=new_from,
        new_to=new_to,
        new_id=new_id,
        today=today,
        uses=uses if out_dir != source_dir else None,
    )
    result.text = _relocate_schema_line(result.text, source_dir, out_dir)
    return result


def write(planned: release.Plan, out: Path) -> None:
    """Write the plan to `out` once a copy beside it loads as a valid runbook; raises the
    CalgenError that refused it."""

    def check(path: Path) -> None:
        load_runbook(path, str(out))

    release.write(planned, out, check)


def _relocate_schema_line(text: str, source_dir: Path, out_dir: Path) -> str:
    """Keep the editor's `$schema=` pointer right when the new file lives elsewhere."""

    def fix(match: re.Match[str]) -> str:
        target = (source_dir / match.group(2)).resolve()
        return match.group(1) + os.path.relpath(target, out_dir)

    return re.sub(r"^(# yaml-language-server: \$schema=)(\S+)", fix, text, count=1, flags=re.M)
