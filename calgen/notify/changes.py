"""Change notices: what moved, was added or was cancelled since the version subscribers saw.

Subscribed calendars update silently; a planner notices a moved deadline only when told.
The comparison is between two *published* snapshots, `dist/<id>/versies/<version>.json`
(written by `calgen build`): the version recorded in the state as last told about, and
the runbook's current version. A runbook whose current version is not published yet
gets no notice; the first run for a runbook only records its current version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calgen.core import dutch, layout
from calgen.render.changes import Snapshot, compare
from calgen.runbook.model import Runbook
from calgen.site import published

NOTIFIED = ("verschoven", "toegevoegd", "vervallen")


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    runbook: str
    old: str
    new: str
    by_role: dict[str, tuple[str, ...]]  # role -> Dutch lines, in milestone order


def snapshot_path(dist: Path, runbook: str, version: str) -> Path:
    return dist / layout.snapshot_file(runbook, version)


def read_snapshot(path: Path) -> Snapshot | None:
    """A published snapshot, or None when it is missing or unusable."""
    try:
        return published.read_snapshot_file(path)
    except (OSError, *published.DAMAGED):
        return None


def notice(
    runbook: Runbook, old_version: str, old: Snapshot, new_version: str, new: Snapshot
) -> Notice:
    """The moved, added and cancelled milestones, grouped by the roles they concern."""
    audience = {m.id: m.audience for m in runbook.milestones}
    by_role: dict[str, list[str]] = {}
    for change in compare(old, new, runbook.calendar):
        if change.kind not in NOTIFIED:
            continue
        before, after = old.get(change.id), new.get(change.id)
        if change.kind == "verschoven" and before and after:
            title = after.title
            line = (
                f"{change.id} verplaatst van {dutch.when(before.start, before.end)}"
                f" naar {dutch.when(after.start, after.end)} ({title})"
            )
        elif change.kind == "toegevoegd" and after:
            line = f"{change.id} toegevoegd: {after.title}, {dutch.when(after.start, after.end)}"
        elif before:
            line = (
                f"{change.id} vervallen: {before.title}"
                f" (was {dutch.when(before.start, before.end)})"
            )
        else:  # pragma: no cover - compare() gives one of the three with its sides
            continue
        roles = set(audience.get(change.id, ()))
        roles.update(before.roles if before else ())
        roles.update(after.roles if after else ())
        for role in roles:
            by_role.setdefault(role, []).append(line)
    return Notice(
        runbook=runbook.id,
        old=old_version,
        new=new_version,
        by_role={role: tuple(lines) for role, lines in sorted(by_role.items())},
    )
