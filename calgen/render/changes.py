"""What changed between two versions of a runbook, in words a planner understands.

Used by `calgen diff OLD.yaml NEW.yaml` and by the runbook page, which shows the changes
since the previous version of its version table. Milestones are matched by number; a
snapshot is the little that is compared (title, action holders, times), so the page can
keep one per published version in `dist/<id>/versies/<version>.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from calgen.core import dutch
from calgen.core.errors import CalgenError
from calgen.core.schedule import AMSTERDAM, WorkCalendar
from calgen.runbook.model import Runbook


@dataclass(frozen=True, kw_only=True)
class MilestoneState:
    """What a version snapshot keeps of a milestone: the little that is compared."""

    title: str
    roles: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime | None


Snapshot = dict[str, MilestoneState]


# What a published version's record keeps: a change of one of these kinds needs a new
# version row (calgen.site.records); a new title (`gewijzigd`) is wording and may change.
SCHEDULE_KINDS = ("verschoven", "toegevoegd", "vervallen", "actiehouders")


@dataclass(frozen=True, kw_only=True)
class Change:
    kind: str  # verschoven, toegevoegd, vervallen, actiehouders, gewijzigd (a new title)
    id: str
    text: str  # one Dutch sentence

    def __str__(self) -> str:
        return self.text


def snapshot(runbook: Runbook) -> Snapshot:
    return {
        m.id: MilestoneState(title=m.title, roles=tuple(sorted(m.roles)), start=m.start, end=m.end)
        for m in runbook.milestones
    }


def to_json(version: str, shot: Snapshot) -> str:
    """One milestone a line: small diffs in git, and json's fast encoder for each line."""

    def line(mid: str, s: MilestoneState) -> str:
        state = {
            "end": s.end.isoformat() if s.end else None,
            "roles": list(s.roles),
            "start": s.start.isoformat(),
            "title": s.title,
        }
        return f"  {json.dumps(mid)}: {json.dumps(state, ensure_ascii=False)}"

    body = ",\n".join(line(mid, s) for mid, s in sorted(shot.items()))
    return f'{{"version": {json.dumps(version)}, "milestones": {{\n{body}\n}}}}\n'


class SnapshotError(CalgenError, ValueError):
    """A published snapshot that is not one calgen wrote (hand-edited, truncated, planted)."""


_MILESTONE_ID = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4}){1,7}")
_MAX_TEXT = 10_000  # characters of a title or role id: far above any real one


def from_json(text: str) -> Snapshot:
    """A snapshot as `to_json` wrote it; SnapshotError naming the first thing that is not."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise SnapshotError("nested too deeply") from None
    milestones = data.get("milestones") if isinstance(data, dict) else None
    if not isinstance(milestones, dict) or not isinstance(data.get("version"), str):
        raise SnapshotError("not a calgen version snapshot")
    return {_milestone_id(mid): _state(mid, m) for mid, m in milestones.items()}


def _milestone_id(mid: str) -> str:
    if not _MILESTONE_ID.fullmatch(mid):
        raise SnapshotError(f"{mid[:40]!r} is not a milestone number")
    return mid


def _state(mid: str, m: object) -> MilestoneState:
    if not isinstance(m, dict):
        raise SnapshotError(f"milestone {mid}: not a mapping")
    title, roles = m.get("title"), m.get("roles")
    if not isinstance(title, str) or len(title) > _MAX_TEXT:
        raise SnapshotError(f"milestone {mid}: no title")
    if not isinstance(roles, list) or not all(
        isinstance(r, str) and len(r) <= _MAX_TEXT for r in roles
    ):
        raise SnapshotError(f"milestone {mid}: roles are not a list of role ids")
    end = m.get("end")
    return MilestoneState(
        title=title,
        roles=tuple(roles),
        start=_moment(mid, m.get("start")),
        end=None if end is None else _moment(mid, end),
    )


def _moment(mid: str, value: object) -> dt.datetime:
    """An ISO date and time with its UTC offset, as `to_json` writes it."""
    if not isinstance(value, str) or len(value) > 40:
        raise SnapshotError(f"milestone {mid}: a time is not a date and time")
    moment = dt.datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise SnapshotError(f"milestone {mid}: {value!r} has no UTC offset")
    return moment.astimezone(AMSTERDAM)


def milestone_order(key: str) -> tuple[int, ...]:
    """`3.1.10` after `3.1.9`: milestone numbers in the runbook's order."""
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
    for mid in sorted(set(old) | set(new), key=milestone_order):
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
            changes.append(Change(kind="actiehouders", id=mid, text=f"{mid} actiehouders: {roles}"))
    return changes
