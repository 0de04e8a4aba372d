"""What changed between two versions of a runbook, in words a planner understands.

Used by `calgen diff OLD.yaml NEW.yaml` and by the runbook page, which shows the changes
since the previous version of its version table. Milestones are matched by number; a
snapshot is the little that is compared (title, action holders, times), so the page can
keep one per published version in `dist/<id>/versies/<version>.json`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from calgen.core import dutch
from calgen.core.schedule import WorkCalendar
from calgen.runbook.model import Runbook


@dataclass(frozen=True, kw_only=True)
class State:
    title: str
    roles: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime | None


Snapshot = dict[str, State]


@dataclass(frozen=True, kw_only=True)
class Change:
    kind: str  # verschoven, toegevoegd, vervallen, gewijzigd
    id: str
    text: str  # one Dutch sentence

    def __str__(self) -> str:
        return self.text


def snapshot(runbook: Runbook) -> Snapshot:
    return {
        m.id: State(title=m.title, roles=tuple(sorted(m.roles)), start=m.start, end=m.end)
        for m in runbook.milestones
    }


def to_json(version: str, shot: Snapshot) -> str:
    """One milestone a line: small diffs in git, and json's fast encoder for each line."""

    def line(mid: str, s: State) -> str:
        state = {
            "end": s.end.isoformat() if s.end else None,
            "roles": list(s.roles),
            "start": s.start.isoformat(),
            "title": s.title,
        }
        return f"  {json.dumps(mid)}: {json.dumps(state, ensure_ascii=False)}"

    body = ",\n".join(line(mid, s) for mid, s in sorted(shot.items()))
    return f'{{"version": {json.dumps(version)}, "milestones": {{\n{body}\n}}}}\n'


def from_json(text: str) -> Snapshot:
    data = json.loads(text)
    return {
        mid: State(
            title=m["title"],
            roles=tuple(m["roles"]),
            start=dt.datetime.fromisoformat(m["start"]),
            end=dt.datetime.fromisoformat(m["end"]) if m["end"] else None,
        )
        for mid, m in data["milestones"].items()
    }


def _order(key: str) -> tuple[int, ...]:
    return tuple(int(part) for part in key.split("."))


def _shift_words(old: dt.datetime, new: dt.datetime, calendar: WorkCalendar) -> str:
    days = calendar.distance(old.date(), new.date())
    if days == 0:
        if new.date() != old.date():
            return "zelfde werkdag"
        return "later op de dag" if new > old else "eerder op de dag"
    unit = "werkdag" if abs(days) == 1 else "werkdagen"
    return f"{abs(days)} {unit} {'later' if days > 0 else 'eerder'}"


def compare(old: Snapshot, new: Snapshot, calendar: WorkCalendar) -> list[Change]:
    changes = []
    for mid in sorted(set(old) | set(new), key=_order):
        before, after = old.get(mid), new.get(mid)
        if before is None and after is not None:
            when = dutch.when(after.start, after.end)
            changes.append(
                Change(kind="toegevoegd", id=mid, text=f"{mid} toegevoegd: {after.title}, {when}")
            )
            continue
        if after is None and before is not None:
            when = dutch.when(before.start, before.end)
            changes.append(
                Change(
                    kind="vervallen", id=mid, text=f"{mid} vervallen: {before.title} (was {when})"
                )
            )
            continue
        assert before is not None
        assert after is not None
        if (before.start, before.end) != (after.start, after.end):
            changes.append(
                Change(
                    kind="verschoven",
                    id=mid,
                    text=f"{mid} verschoven: {dutch.when(before.start, before.end)} → "
                    f"{dutch.when(after.start, after.end)} "
                    f"({_shift_words(before.start, after.start, calendar)})",
                )
            )
        if before.title != after.title:
            changes.append(
                Change(
                    kind="gewijzigd",
                    id=mid,
                    text=f"{mid} nieuwe titel: '{before.title}' → '{after.title}'",
                )
            )
        if before.roles != after.roles:
            roles = f"{', '.join(before.roles)} → {', '.join(after.roles)}"
            changes.append(Change(kind="gewijzigd", id=mid, text=f"{mid} actiehouders: {roles}"))
    return changes
