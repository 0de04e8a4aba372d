"""Change notices: what moved, was added or was cancelled since the version subscribers saw.

Subscribed calendars update silently; a planner notices a moved deadline only when told.
The comparison is between two *published* snapshots, `dist/<id>/versies/<version>.json`
(written by `calgen build`): the version recorded in the state as last told about, and
the runbook's current version. A runbook whose current version is not published yet
gets no notice; the first run for a runbook only records its current version.

A published snapshot is data from outside: read through calgen.site.published (bounded,
regular files only, checked values). One that is there but cannot be used raises
`UnusableSnapshotError`, so the caller can skip that runbook's notice and say so, while
reminders go on.

Each mailbox gets one notice per version, listing the changes for all of its roles:
`Notice.lines_for` gives them, in milestone order, each line once.

A line is plain Dutch text that begins with the milestone's id and the verb
(`3.1.3 verschoven van … naar … (…)`, `3.1.4 toegevoegd: …`, `3.1.5 vervallen: …`); the
notify state stores the lines as text, and `about` reads the id and verb back, so the
mail can count the changes in its subject and link each to its row on the page.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from calgen.core import dutch, layout
from calgen.core.errors import CalgenError
from calgen.render.changes import Snapshot, compare
from calgen.runbook.model import Runbook
from calgen.site import published

NOTIFIED = ("verschoven", "toegevoegd", "vervallen")
_FORMER = {"verplaatst": "verschoven"}  # the verb of lines stored before it was settled


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    line: str  # Dutch, one line
    roles: frozenset[str]  # whom it concerns


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    runbook: str
    old: str
    new: str
    changes: tuple[Change, ...]  # in milestone order

    @property
    def roles(self) -> frozenset[str]:
        """Every role some change concerns."""
        return frozenset(role for change in self.changes for role in change.roles)

    def lines_for(self, roles: Collection[str]) -> tuple[str, ...]:
        """The lines concerning any of `roles`, in milestone order, each once."""
        return tuple(c.line for c in self.changes if not c.roles.isdisjoint(roles))


class UnusableSnapshotError(CalgenError):
    """A published snapshot is there but cannot be used (damaged, too large, not a file)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def about(line: str) -> tuple[str, str]:
    """The milestone id and the verb of a notice line (`3.1.3 verschoven van …` →
    `("3.1.3", "verschoven")`); `("", "")` for a line in no form `notice` writes. A line
    stored before the verb was settled (`verplaatst`) reads as `verschoven`."""
    ident, _, rest = line.partition(" ")
    verb = rest.split(" ", 1)[0].removesuffix(":")
    verb = _FORMER.get(verb, verb)
    return (ident, verb) if ident and verb in NOTIFIED else ("", "")


def snapshot_path(dist: Path, runbook: str, version: str) -> Path:
    return dist / layout.snapshot_file(runbook, version)


def read_snapshot(path: Path) -> Snapshot | None:
    """A published snapshot, or None when there is none. UnusableSnapshotError when it is
    there but cannot be used."""
    try:
        return published.read_snapshot_file(path)
    except (OSError, *published.DAMAGED) as exc:
        raise UnusableSnapshotError(path, published.unusable_reason(exc)) from None


def notice(
    runbook: Runbook, old_version: str, old: Snapshot, new_version: str, new: Snapshot
) -> Notice:
    """The moved, added and cancelled milestones, with the roles they concern."""
    audience = {m.id: m.audience for m in runbook.milestones}
    found: list[Change] = []
    for change in compare(old, new, runbook.calendar):
        if change.kind not in NOTIFIED:
            continue
        before, after = old.get(change.id), new.get(change.id)
        if change.kind == "verschoven" and before and after:
            title = after.title
            line = (
                f"{change.id} verschoven van {dutch.when(before.start, before.end)}"
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
        found.append(Change(line=line, roles=frozenset(roles)))
    return Notice(runbook=runbook.id, old=old_version, new=new_version, changes=tuple(found))
