"""`calgen notify --status`: how the queue stands, for an operator and for a monitor.

Read only: the state is opened as a dry run opens it (no lock taken, nothing changed),
so asking never delays a run. Whether a run holds the state is asked of its lock without
waiting. The next moment something falls due comes from the runbooks (every role).

Exit codes a monitor can use: 0 all is well; 1 something needs attention (messages left
deferred, claimed or queued while no run is busy, rows calgen cannot use, no run for more
than a day); 3 the state cannot be read (missing, damaged, not a calgen state).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from calgen.core import schedule
from calgen.notify.due import items, moments
from calgen.notify.state import MESSAGE_STATUSES, PENDING, StateError
from calgen.notify.statefile import open_state, real_path
from calgen.runbook.model import Runbook

OK, ATTENTION, UNREADABLE = 0, 1, 3
STALE = dt.timedelta(days=1)  # no run for longer than this needs attention


@dataclass(frozen=True, kw_only=True, slots=True)
class Status:
    path: Path
    running: bool
    counts: dict[str, int]
    suppressed_addresses: int
    last_run: dt.datetime | None
    next_due: tuple[dt.datetime, str] | None  # when, and what (runbook, item, lead)
    runbooks_read: bool  # False: the runbooks could not be read (no next due)
    problems: tuple[str, ...]
    at: dt.datetime

    def attention(self) -> list[str]:
        """Why a monitor should look, if it should."""
        why = list(self.problems)
        if not self.runbooks_read:
            why.append("the runbooks could not be read")
        left = {s: self.counts.get(s, 0) for s in PENDING if self.counts.get(s, 0)}
        if left and not self.running:
            listed = ", ".join(f"{n} {s}" for s, n in left.items())
            why.append(f"{listed} while no run is busy (the last run stopped early?)")
        if self.last_run is None:
            if sum(self.counts.values()):
                why.append("no run recorded")
        elif self.at - self.last_run > STALE:
            why.append(f"no run since {_local(self.last_run)}")
        return why

    @property
    def exit_code(self) -> int:
        return ATTENTION if self.attention() else OK

    def lines(self) -> list[str]:
        out = [f"state: {self.path}", f"running: {'yes' if self.running else 'no'}"]
        out += [f"{status}: {self.counts.get(status, 0)}" for status in MESSAGE_STATUSES]
        out.append(f"suppression list: {self.suppressed_addresses} address(es)")
        if self.last_run is None:
            out.append("last run: never")
        else:
            out.append(f"last run: {_local(self.last_run)}{_ago(self.at - self.last_run)}")
        if not self.runbooks_read:
            out.append("next due: unknown (the runbooks could not be read)")
        elif self.next_due is None:
            out.append("next due: nothing (no reminder of these runbooks falls due any more)")
        else:
            when, what = self.next_due
            out.append(f"next due: {_local(when)}: {what}")
        why = self.attention()
        out.append("status: " + ("attention: " + "; ".join(why) if why else "ok"))
        return out


def _ago(age: dt.timedelta) -> str:
    """` (5 minute(s) ago)`, ` (3 hour(s) ago)`, ` (12 day(s) ago)`; "" for the future."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 0:
        return ""
    if minutes < 120:
        return f" ({minutes} minute(s) ago)"
    return f" ({minutes // 60} hour(s) ago)" if minutes < 48 * 60 else f" ({age.days} day(s) ago)"


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(schedule.AMSTERDAM).strftime("%Y-%m-%d %H:%M (Europe/Amsterdam)")


def _running(path: Path) -> bool:
    """Whether a run holds the state's lock (asked without waiting, without a lock kept)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)  # also drops the shared lock just taken
    return False


def next_due(runbooks: Sequence[Runbook], at: dt.datetime) -> tuple[dt.datetime, str] | None:
    """The first reminder moment after `at`, of any role of these runbooks."""
    best: tuple[dt.datetime, str] | None = None
    for runbook in runbooks:
        candidates = items(runbook, "")
        for role in runbook.roles:
            for item, lead, trigger in moments(runbook, candidates, role.id):
                if trigger > at and (best is None or trigger < best[0]):
                    what = f"{runbook.id} {item.title} ({lead.dutch()} vooraf, {role.id})"
                    best = (trigger, what)
    return best


def read(path: Path, runbooks: Sequence[Runbook] | None, at: dt.datetime) -> Status:
    """The status of the state at `path` (`runbooks` None: they could not be read);
    StateError when the state cannot be read."""
    real = real_path(path)
    if not os.path.lexists(real):
        raise StateError(f"{path}: no notify state here (no run has used this file)")
    with open_state(path, wait=0, readonly=True) as opened:
        state = opened.state
        counts = state.counts()
        state.unknown_statuses()
        addresses = len({email for email, *_ in state.suppressions()})
        last = state.meta("last_run")
        problems = tuple(state.problems)
    last_run = None
    if last is not None:
        try:
            last_run = dt.datetime.strptime(last, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            problems += (f"{path}: meta last_run {last!r} is not a moment calgen writes",)
    return Status(
        path=path,
        running=_running(real),
        counts=counts,
        suppressed_addresses=addresses,
        last_run=last_run,
        next_due=next_due(runbooks or (), at),
        runbooks_read=runbooks is not None,
        problems=problems,
        at=at,
    )
