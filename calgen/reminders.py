"""Reminder lead times: what the runbook says, which apply where, and when each is due.

A lead time is written `"1 week"`, `"2 days"`, `"2 hours"`, `"30 minutes"` or
`"1 working day"` (working days from the runbook's calendar, at the same time of day).
Which lead times apply to an event, most specific first: the milestone's own `reminders`
(an empty list switches them off), the role's (`reminders.roles`), the kind of event's
(`reminders.kinds`: deadline, period, phase, event), the runbook's `reminders.default`,
and else calgen's defaults below.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from calgen import schedule

LEAD_PATTERN = r"^\d+ (weeks?|days?|hours?|minutes?|working days?)$"
_LEAD = re.compile(r"^(?P<n>\d+) (?P<unit>weeks?|days?|hours?|minutes?|working days?)$")
KINDS = ("deadline", "period", "phase", "event")
_DUTCH_UNITS = {
    "week": ("week", "weken"),
    "day": ("dag", "dagen"),
    "hour": ("uur", "uur"),
    "minute": ("minuut", "minuten"),
    "working day": ("werkdag", "werkdagen"),
}


@dataclass(frozen=True, order=True)
class Lead:
    """How long before an event's start a reminder goes off."""

    amount: int
    unit: str  # week, day, hour, minute, working day

    @property
    def key(self) -> str:
        """Stable text for state files and UIDs: `1-week`, `2-working-day`."""
        return f"{self.amount}-{self.unit.replace(' ', '-')}"

    def duration(self) -> dt.timedelta | None:
        """A fixed length, or None for working days (which depend on the calendar)."""
        per = {"week": 7 * 86400, "day": 86400, "hour": 3600, "minute": 60}
        return (
            None
            if self.unit == "working day"
            else dt.timedelta(seconds=self.amount * per[self.unit])
        )

    def trigger(self, moment: dt.datetime, calendar: schedule.WorkCalendar) -> dt.datetime:
        """The instant the reminder for an event at `moment` goes off."""
        if self.unit in ("hour", "minute"):
            # exact durations (RFC 5545 3.3.6): count real time across a DST change
            fixed = self.duration()
            assert fixed is not None
            return (moment.astimezone(dt.UTC) - fixed).astimezone(schedule.AMSTERDAM)
        # weeks and days are nominal: the same wall-clock time so many days earlier
        if self.unit == "working day":
            day = calendar.shift(moment.date(), -self.amount)
        else:
            day = moment.date() - dt.timedelta(days=self.amount * (7 if self.unit == "week" else 1))
        naive = dt.datetime.combine(day, moment.time())
        # in a DST gap this is the instant just after it; in a fold, the first one
        return (
            naive.replace(tzinfo=schedule.AMSTERDAM)
            .astimezone(dt.UTC)
            .astimezone(schedule.AMSTERDAM)
        )

    def dutch(self) -> str:
        """`1 week`, `2 werkdagen`, `2 uur`."""
        one, many = _DUTCH_UNITS[self.unit]
        return f"{self.amount} {one if self.amount == 1 else many}"


MAX_LEAD_DAYS = 366  # a reminder more than a year ahead is a mistake, not a plan


def parse_lead(text: str) -> Lead | None:
    """`"1 week"` -> Lead(1, "week"); None when it is not a lead time or too long."""
    match = _LEAD.fullmatch(text)
    if not match:
        return None
    lead = Lead(int(match["n"]), match["unit"].rstrip("s"))
    days = (
        lead.amount
        if lead.unit == "working day"
        else lead.amount / {"week": 1 / 7, "day": 1, "hour": 24, "minute": 1440}[lead.unit]
    )
    return lead if days <= MAX_LEAD_DAYS else None


DEFAULTS: Mapping[str, tuple[Lead, ...]] = {
    "deadline": (Lead(1, "week"), Lead(1, "working day")),
    "period": (Lead(1, "working day"),),
    "phase": (Lead(1, "working day"),),
    "event": (Lead(1, "working day"),),
}


@dataclass(frozen=True)
class ReminderPolicy:
    """The runbook's reminder settings (all optional)."""

    default: tuple[Lead, ...] | None = None
    roles: Mapping[str, tuple[Lead, ...]] = field(default_factory=dict)
    kinds: Mapping[str, tuple[Lead, ...]] = field(default_factory=dict)

    def leads(
        self, kind: str, role: str | None, own: tuple[Lead, ...] | None = None
    ) -> tuple[Lead, ...]:
        """The lead times for an event of `kind` in `role`'s feed (None: all.ics)."""
        if own is not None:
            return own
        if role is not None and role in self.roles:
            return self.roles[role]
        if kind in self.kinds:
            return self.kinds[kind]
        if self.default is not None:
            return self.default
        return DEFAULTS[kind]
