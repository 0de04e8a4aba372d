"""What a build may not change in a published folder, checked before anything is rendered.

A version's snapshot in `<id>/versies/<version>.json` is the record of what that version
scheduled: people planned on it, and `calgen notify` tells subscribers what changed
between two such records. So, against what is published in the out folder:

- a final version whose snapshot is published keeps its schedule: a build that would move,
  add or remove one of its milestones, or change who acts on one, is refused, naming the
  version, each change and the fix (a new version row). A new title is wording and passes;
- a concept on top of a published final version is refused: the concept would take the
  published schedule out of the subscribe-once feeds and out of e-mail;
- a new final version (its snapshot not published yet) whose go-live is already past, by
  the build's clock, is a warning (file:line:col; `--strict` makes it an error).

A snapshot that is missing is no record (a new version, or a runbook never built here); one
that is damaged is noted by calgen.site.published and treated as missing, as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from calgen.core import layout
from calgen.core.errors import CalgenError, Diagnostics, Pos
from calgen.render.changes import SCHEDULE_KINDS, Snapshot, compare, snapshot
from calgen.runbook.model import Runbook, Version
from calgen.site import published


class RecordError(CalgenError):
    """A build would rewrite what is published as a record; nothing was written."""

    def __init__(self, refusals: Sequence[str]) -> None:
        self.refusals = tuple(refusals)
        super().__init__("\n".join(self.refusals))


@dataclass(frozen=True, kw_only=True)
class Checked:
    """What the check read and found: the published snapshots (for the pages' changes),
    notes on damaged ones, the refusals and the warnings."""

    history: Mapping[str, Mapping[str, Snapshot]]
    notes: tuple[str, ...]
    refusals: tuple[str, ...]
    warnings: Diagnostics

    def raise_if_refused(self) -> None:
        if self.refusals:
            raise RecordError(self.refusals)


def check(runbooks: Sequence[Runbook], out: Path, moment: dt.datetime) -> Checked:
    """Every runbook's versions against the records published in `out`."""
    notes: list[str] = []
    history = published.read_history(out, runbooks, notes)
    refusals: list[str] = []
    warnings = Diagnostics()
    for runbook in runbooks:
        current = runbook.current
        if current is None:
            continue  # no version table: no record to keep (the 2018 seed)
        records = history.get(runbook.id, {})
        if current.is_final:
            refusals += _validate_record_kept(runbook, current, records, out)
            if not published.has_snapshot(out, runbook.id, current.version):
                _validate_go_live_ahead(runbook, current, moment, warnings)
        else:
            refusals += _validate_no_concept_over_final(runbook, current, out)
    return Checked(history=history, notes=tuple(notes), refusals=tuple(refusals), warnings=warnings)


def _where(runbook: Runbook, version: Version) -> str:
    return str(Pos(file=runbook.source, line=version.line, col=version.col))


def _validate_record_kept(
    runbook: Runbook, current: Version, records: Mapping[str, Snapshot], out: Path
) -> list[str]:
    """A published final version's milestones stay where its record has them."""
    record = records.get(current.version)
    if record is None:
        return []
    changed = [
        c for c in compare(record, snapshot(runbook), runbook.calendar) if c.kind in SCHEDULE_KINDS
    ]
    if not changed:
        return []
    lines = [
        f"{_where(runbook, current)}: version {current.version} of runbook {runbook.id} is "
        f"published ({out / layout.snapshot_file(runbook.id, current.version)}) and people "
        f"plan on it; this build would change its schedule:",
        *(f"  {c}" for c in changed),
        f"  fix: add a new version row above {current.version} (for instance "
        f'`- {{version: "{_next(current.version)}", date: YYYY-MM-DD, status: definitief, '
        f"note: …}}`) and build again: the page lists the changes and `calgen notify` mails "
        f"them to each affected role. Or undo the change.",
    ]
    return ["\n".join(lines)]


def _next(version: str) -> str:
    """`1.0` → `1.1`, `2` → `3`: a suggestion for the next version number."""
    head, _, last = version.rpartition(".")
    return f"{head}.{int(last) + 1}" if head else str(int(last) + 1)


def _validate_no_concept_over_final(runbook: Runbook, current: Version, out: Path) -> list[str]:
    """A concept does not replace a final version published in this folder."""
    final = next(
        (
            v
            for v in runbook.versions[1:]
            if v.is_final and published.has_snapshot(out, runbook.id, v.version)
        ),
        None,
    )
    if final is None:
        return []
    return [
        f"{_where(runbook, current)}: version {current.version} of runbook {runbook.id} is a "
        f"concept, but final version {final.version} is published in {out}: a concept here "
        f"would take the published schedule out of the subscribe-once feeds and out of "
        f"e-mail.\n"
        f"  fix: review the concept in a folder of its own (`calgen build {runbook.source} "
        f"--out preview`, then `calgen serve --dir preview`); publish it here once it is "
        f"final (`status: definitief`), or remove its row."
    ]


def _validate_go_live_ahead(
    runbook: Runbook, current: Version, moment: dt.datetime, warnings: Diagnostics
) -> None:
    """A final version published for the first time plans a go-live still to come."""
    if runbook.go_live >= moment:
        return
    warnings.warning(
        Pos(file=runbook.source, line=current.line, col=current.col),
        f"version {current.version} is new and final, but its go-live "
        f"({runbook.go_live:%Y-%m-%d %H:%M}) is already past "
        f"at the build's moment ({moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC): the right "
        f"runbook, the right go-live?",
        "versions[0]",
    )
