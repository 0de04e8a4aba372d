"""Reminder lead times: what the runbook says, which apply where, and when each is due.

A lead time is written `"1 week"`, `"2 days"`, `"2 hours"`, `"30 minutes"` or
`"1 working day"` (working days from the runbook's calendar, at the same time of day).
Which lead times apply to an event, most specific first: the milestone's own `reminders`
(an empty list switches them off), the role's (`reminders.roles`), the kind of event's
(`reminders.kinds`: deadline, period, phase, event), the runbook's `reminders.default`,
and else calgen's defaults below.

Humane moments: a reminder goes off on a working day of the runbook's calendar within
office hours (`reminders.office_hours`, default 08:00-18:00 Europe/Amsterdam; `off`
switches the rule off). A moment outside them moves *earlier*, to the latest moment
within office hours before it: 23:00 becomes 18:00 the same working day, 07:00 or any
time on a weekend or holiday becomes 18:00 the working day before. Feeds
(calgen.render.ical.feeds) and e-mail (calgen.notify) both ask `Lead.trigger`, so they agree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from calgen.core import schedule

_UNITS = "weeks?|days?|hours?|minutes?|working days?"
LEAD_PATTERN = rf"^\d+ ({_UNITS})$"  # the schema's form of a lead time
_LEAD = re.compile(rf"^(?P<n>\d+) (?P<unit>{_UNITS})$")


class Kind(StrEnum):
    """What a scheduled item is, as `reminders.kinds` names it."""

    DEADLINE = "deadline"  # a milestone at one moment
    PERIOD = "period"  # a milestone from a start to an end
    PHASE = "phase"
    EVENT = "event"  # a dated fact without a number


_DUTCH_UNITS = {
    "week": ("week", "weken"),
    "day": ("dag", "dagen"),
    "hour": ("uur", "uur"),
    "minute": ("minuut", "minuten"),
    "working day": ("werkdag", "werkdagen"),
}


OFFICE_HOURS_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


@dataclass(frozen=True, kw_only=True)
class OfficeHours:
    """When people read reminders: working days, from `start` to `end` (inclusive),
    Amsterdam wall-clock time."""

    start: dt.time
    end: dt.time

    def latest(self, moment: dt.datetime, calendar: schedule.WorkCalendar) -> dt.datetime:
        """`moment` itself when it is within office hours on a working day, else the latest
        moment before it that is."""
        local = moment.astimezone(schedule.AMSTERDAM)
        day = local.date()
        if calendar.is_working(day):
            wall = local.time().replace(tzinfo=None)
            if self.start <= wall <= self.end:
                return local
            if wall > self.end:
                return _at(day, self.end)
        day -= dt.timedelta(days=1)
        while not calendar.is_working(day):
            day -= dt.timedelta(days=1)
        return _at(day, self.end)


OFFICE_HOURS = OfficeHours(start=dt.time(8, 0), end=dt.time(18, 0))


def _at(day: dt.date, time: dt.time) -> dt.datetime:
    """Wall-clock `time` on `day` in Amsterdam (office hours never fall in a DST gap)."""
    naive = dt.datetime.combine(day, time)
    return (
        naive.replace(tzinfo=schedule.AMSTERDAM).astimezone(dt.UTC).astimezone(schedule.AMSTERDAM)
    )


@dataclass(frozen=True, kw_only=True, order=True)
class Lead:
    """How long before an event's start a reminder goes off, and within which office
    hours (None: whenever that is). The hours are the runbook's, set by
    `ReminderPolicy.leads`; they are not part of a lead's identity (`key`, equality)."""

    amount: int
    unit: str  # week, day, hour, minute, working day
    hours: OfficeHours | None = field(default=OFFICE_HOURS, compare=False)

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
        """The instant the reminder for an event at `moment` goes off: the lead time
        before it, moved earlier into office hours when it falls outside them."""
        raw = self.raw_trigger(moment, calendar)
        return raw if self.hours is None else self.hours.latest(raw, calendar)

    def raw_trigger(self, moment: dt.datetime, calendar: schedule.WorkCalendar) -> dt.datetime:
        """The lead time before `moment`, office hours left aside."""
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
    lead = Lead(amount=int(match["n"]), unit=match["unit"].rstrip("s"))
    days = (
        lead.amount
        if lead.unit == "working day"
        else lead.amount / {"week": 1 / 7, "day": 1, "hour": 24, "minute": 1440}[lead.unit]
    )
    return lead if days <= MAX_LEAD_DAYS else None


DEFAULTS: Mapping[Kind, tuple[Lead, ...]] = {
    Kind.DEADLINE: (Lead(amount=1, unit="week"), Lead(amount=1, unit="working day")),
    Kind.PERIOD: (Lead(amount=1, unit="working day"),),
    Kind.PHASE: (Lead(amount=1, unit="working day"),),
    Kind.EVENT: (Lead(amount=1, unit="working day"),),
}


@dataclass(frozen=True, kw_only=True)
class ReminderPolicy:
    """The runbook's reminder settings (all optional)."""

    default: tuple[Lead, ...] | None = None
    roles: Mapping[str, tuple[Lead, ...]] = field(default_factory=dict)
    kinds: Mapping[str, tuple[Lead, ...]] = field(default_factory=dict)
    office_hours: OfficeHours | None = OFFICE_HOURS  # None: `office_hours: off`

    def leads(
        self, kind: Kind, role: str | None, own: tuple[Lead, ...] | None = None
    ) -> tuple[Lead, ...]:
        """The lead times for an event of `kind` in `role`'s feed (None: all.ics), each
        with the runbook's office hours."""
        found = self._leads(kind, role, own)
        if all(lead.hours is self.office_hours for lead in found):
            return found
        return tuple(replace(lead, hours=self.office_hours) for lead in found)

    def _leads(
        self, kind: Kind, role: str | None, own: tuple[Lead, ...] | None
    ) -> tuple[Lead, ...]:
        if own is not None:
            return own
        if role is not None and role in self.roles:
            return self.roles[role]
        if kind in self.kinds:
            return self.kinds[kind]
        if self.default is not None:
            return self.default
        return DEFAULTS[kind]


def parse_office_hours(value: object) -> OfficeHours | None:
    """`{start: "08:00", end: "18:00"}` -> OfficeHours; `"off"` (or YAML false) -> None.
    The schema has checked the form; `start` must come before `end` (ValueError)."""
    if value in ("off", False):
        return None
    assert isinstance(value, Mapping)
    start, end = (dt.time.fromisoformat(str(value[k])) for k in ("start", "end"))
    if start >= end:
        raise ValueError(f"office hours start {start:%H:%M} is not before end {end:%H:%M}")
    return OfficeHours(start=start, end=end)
