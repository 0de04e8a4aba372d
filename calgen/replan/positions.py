"""`calgen diff` across releases: each milestone's position relative to go-live.

Two releases are years apart, so "1015 werkdagen later" on every line says nothing. What
an editor checks after `calgen new-release` is whether each milestone kept its place in
the plan: `3.1.2: 2 werkdagen vóór go-live → 3 werkdagen vóór go-live`. Positions are
counted in working days (each runbook with its own working days), from the milestone's
date to go-live's date, with the time of day when it differs. Two versions of one
runbook (the same id) are compared by calgen.render.changes instead, by date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from calgen.core import dutch
from calgen.render.changes import milestone_order
from calgen.runbook.model import Milestone, Runbook


def same_runbook(old: Runbook, new: Runbook) -> bool:
    """Whether two runbooks are versions of one (then a diff compares dates)."""
    return old.id == new.id


def position(runbook: Runbook, moment: dt.datetime, with_time: bool) -> str:
    """`3 werkdagen vóór go-live`, `op de dag van go-live`, `1 werkdag na go-live`, with
    `, 17.00 uur` when asked; a non-working day says which it is."""
    calendar = runbook.calendar
    day, live = moment.date(), runbook.go_live.date()
    if day == live:
        text = "op de dag van go-live"
    else:
        n = abs(calendar.distance(day, live))
        unit = "werkdag" if n == 1 else "werkdagen"
        text = f"{n} {unit} {'vóór' if day < live else 'na'} go-live"
    reason = calendar.non_working_reason(day)
    if reason is not None:
        text += f" ({reason})"
    return text + (f", {dutch.time_of(moment)}" if with_time else "")


def _span(runbook: Runbook, m: Milestone, with_time: bool) -> str:
    """A deadline's position, or a period's (once when it starts and ends on one day)."""
    if m.end is None:
        return position(runbook, m.start, with_time)
    if m.end.date() == m.start.date():
        hours = f", {dutch.clock(m.start)} - {dutch.clock(m.end)} uur" if with_time else ""
        return position(runbook, m.start, False) + hours
    return f"{position(runbook, m.start, with_time)} – {position(runbook, m.end, with_time)}"


def _times(m: Milestone) -> tuple[dt.time, dt.time | None]:
    return m.start.timetz(), m.end.timetz() if m.end else None


def compare(old: Runbook, new: Runbook) -> list[str]:
    """One Dutch line per milestone whose position relative to go-live differs, was
    added or is gone, in milestone order, after a line with both go-lives."""
    return list(_lines(old, new))


def _lines(old: Runbook, new: Runbook) -> Iterator[str]:
    yield (
        f"go-live: {dutch.when(old.go_live)} → {dutch.when(new.go_live)} "
        f"({old.release_to or old.id} → {new.release_to or new.id})"
    )
    before = {m.id: m for m in old.milestones}
    after = {m.id: m for m in new.milestones}
    for mid in sorted(before.keys() | after.keys(), key=milestone_order):
        was, now = before.get(mid), after.get(mid)
        if was is None and now is not None:
            yield f"{mid} toegevoegd: {now.title}, {_span(new, now, True)}"
        elif now is None and was is not None:
            yield f"{mid} vervallen: {was.title} (was {_span(old, was, True)})"
        elif was is not None and now is not None:
            with_time = _times(was) != _times(now) or (was.end is None) != (now.end is None)
            old_text, new_text = _span(old, was, with_time), _span(new, now, with_time)
            if old_text != new_text:
                yield f"{mid}: {old_text} → {new_text}"


def unchanged(lines: list[str]) -> bool:
    """Whether a comparison found nothing but the go-lives."""
    return len(lines) <= 1
