"""Pure time logic: wall-clock strings to aware datetimes, DST refusal, Dutch holidays.

There is exactly one time zone object in calgen, :data:`AMSTERDAM`. Nothing past this
module handles naive datetimes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from calgen.core.errors import CalgenError

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# The feeds' VTIMEZONE states the EU summer-time rule, which holds from 1996 on.
FIRST_YEAR = 1996
LAST_YEAR = 2099
UTC = dt.UTC

WEEKDAYS_NL = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


_LOCAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}")


class TimeError(CalgenError, ValueError):
    """A wall-clock time that cannot be written into a feed reliably."""


def parse_local(text: str) -> dt.datetime:
    """`"2022-03-30 17:00"` -> aware datetime in Europe/Amsterdam.

    Refuses a time that falls in the spring-forward gap (it does not exist) or in the
    autumn fold (it exists twice): calendar clients disagree on both.
    """
    if not _LOCAL.fullmatch(text):
        raise TimeError(f"'{text}' is not a valid date and time (YYYY-MM-DD HH:MM)")
    try:  # by hand: strptime is slow, and this runs for every time in a runbook
        naive = dt.datetime(  # noqa: DTZ001 - the zone is attached by local()
            int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16])
        )
    except ValueError as exc:
        raise TimeError(f"'{text}' is not a valid date and time ({exc})") from None
    return local(naive)


def local(naive: dt.datetime, rule: str | None = None) -> dt.datetime:
    """Attach Europe/Amsterdam to a wall-clock time, refusing gaps, folds and far years.

    `rule` is the relative time the wall-clock time was computed from, for the message.
    """
    text = naive.strftime("%Y-%m-%d %H:%M")
    if rule:
        text = f"{rule}' resolves to '{text}', but '{text}"
    if not FIRST_YEAR <= naive.year <= LAST_YEAR:
        raise TimeError(f"'{text}' is outside the years {FIRST_YEAR}-{LAST_YEAR} calgen plans")
    aware = naive.replace(tzinfo=AMSTERDAM)
    if aware.astimezone(UTC).astimezone(AMSTERDAM).replace(tzinfo=None) != naive:
        raise TimeError(
            f"'{text}' does not exist in Europe/Amsterdam: the clocks jump from 02:00 to "
            "03:00 that night (start of summer time)"
        )
    if aware.replace(fold=0).utcoffset() != aware.replace(fold=1).utcoffset():
        raise TimeError(
            f"'{text}' exists twice in Europe/Amsterdam: the clocks go back from 03:00 to "
            "02:00 that night (end of summer time); choose a time outside 02:00-03:00"
        )
    return aware


def parse_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        raise TimeError(f"'{value}' has a time; a date is written YYYY-MM-DD")
    if isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise TimeError(f"'{value}' is not a valid date (YYYY-MM-DD)") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise TimeError(f"'{value}' is outside the years {FIRST_YEAR}-{LAST_YEAR} calgen plans")
    return day


class HolidayTable:
    """The Dutch public holidays per year, in Dutch, as the `holidays` package gives them:
    each year asked of the package once and kept. One table serves a whole run (the
    command line fills it from its cache and keeps the years it adds, calgen.core.cache);
    nothing here reads or writes a file."""

    def __init__(self, known: Mapping[int, Mapping[dt.date, str]] | None = None) -> None:
        """`known`: years made earlier by the same `holidays` package (the caller checks)."""
        self._years = {year: dict(days) for year, days in (known or {}).items()}
        self._fresh: set[int] = set()  # years asked of the package by this table

    def year(self, year: int) -> Mapping[dt.date, str]:
        """The holidays of `year` by day; two on one day: `Bevrijdingsdag; Hemelvaartsdag`."""
        days = self._years.get(year)
        if days is None:
            import holidays  # only when needed: `holidays` loads every country it knows

            found = holidays.country_holidays("NL", years=year, language="nl")
            days = self._years[year] = {day: str(name) for day, name in found.items()}
            self._fresh.add(year)
        return days

    def name(self, day: dt.date) -> str | None:
        """The Dutch name of the public holiday on `day`, or None."""
        return self.year(day.year).get(day)

    def all_names(self) -> frozenset[str]:
        """Every Dutch holiday name the `holidays` package uses, for checking runbook input."""
        return frozenset(
            name
            for year in range(FIRST_YEAR, 2041)
            for names in self.year(year).values()
            for name in names.split("; ")
        )

    def fresh(self) -> dict[int, dict[dt.date, str]]:
        """The years this table asked of the `holidays` package, worth keeping."""
        return {year: dict(self._years[year]) for year in sorted(self._fresh)}


@dataclass(frozen=True, kw_only=True)
class WorkCalendar:
    """Which days count as working days for a runbook.

    By default weekends and every Dutch public holiday from the `holidays` package (Good
    Friday and, in lustrum years, Liberation Day included) are non-working. A runbook can
    count named holidays as working days and add closure days of its own.
    """

    working_holidays: frozenset[str] = frozenset()
    closures: tuple[tuple[dt.date, str], ...] = ()
    holidays: HolidayTable = field(default_factory=HolidayTable, compare=False, repr=False)

    def non_working_reason(self, day: dt.date) -> str | None:
        """Why `day` is not a working day ('zondag', 'Tweede paasdag', ...), or None."""
        for closed, reason in self.closures:
            if closed == day:
                return reason
        name = self.holidays.name(day)
        if name and any(n not in self.working_holidays for n in name.split("; ")):
            return name
        if day.weekday() >= 5:
            return WEEKDAYS_NL[day.weekday()]
        return None

    def is_working(self, day: dt.date) -> bool:
        return self.non_working_reason(day) is None

    def shift(self, day: dt.date, working_days: int) -> dt.date:
        """The day `working_days` working days after `day` (before, when negative)."""
        step = dt.timedelta(days=1 if working_days >= 0 else -1)
        left = abs(working_days)
        while left:
            day += step
            if self.is_working(day):
                left -= 1
        return day

    def distance(self, start: dt.date, end: dt.date) -> int:
        """Signed number of working days from `start` to `end`: shift(start, n) == end
        when `end` is a working day."""
        sign = 1 if end >= start else -1
        count, day = 0, start
        while day != end:
            day += dt.timedelta(days=sign)
            if self.is_working(day):
                count += sign
        return count

    def next_working(self, day: dt.date) -> dt.date:
        while not self.is_working(day):
            day += dt.timedelta(days=1)
        return day

    def non_working_days(self, year: int) -> list[tuple[dt.date, str]]:
        """Holidays and closures of `year` that are not working days (weekends left out)."""
        days = dict(self.holidays.year(year))
        days.update({d: reason for d, reason in self.closures if d.year == year})
        return sorted(
            (day, name) for day, name in days.items() if self.non_working_reason(day) is not None
        )


# --------------------------------------------------------------------------- relative times

_RELATIVE = re.compile(
    r"^(?:(?P<count>\d{1,4}) (?P<unit>working days?|days?) (?P<direction>before|after) )?"
    r"(?P<anchor>go_live|\d{1,4}(?:\.\d{1,4}){1,7})(?: at (?P<time>\d{2}:\d{2}))?$"
)
# The same rule for the JSON Schema (calgen.runbook.schema), whose regex dialect editors share:
# the named groups become plain non-capturing ones.
RELATIVE_PATTERN = re.sub(r"\(\?P<\w+>", "(?:", _RELATIVE.pattern)
MAX_OFFSET_DAYS = 3660  # ten years: further than any migration plans


@dataclass(frozen=True, kw_only=True)
class Relative:
    """`3 working days before go_live at 17:00`: a time written relative to go-live or to
    another milestone (its start)."""

    count: int  # signed: negative is before
    working: bool  # working days (True) or calendar days
    anchor: str  # "go_live" or a milestone id
    time: dt.time | None  # None: the anchor's time of day
    text: str

    def resolve(self, anchor: dt.datetime, calendar: WorkCalendar) -> dt.datetime:
        if abs(self.count) > MAX_OFFSET_DAYS:
            raise TimeError(
                f"'{self.text}' is more than {MAX_OFFSET_DAYS} days away: not a plan calgen makes"
            )
        day = anchor.date()
        day = calendar.shift(day, self.count) if self.working else day + dt.timedelta(self.count)
        naive = dt.datetime.combine(day, self.time or anchor.time())
        return local(naive, rule=self.text)

    def dutch(self) -> str:
        """`3 werkdagen vóór go-live, 17.00 uur`: the rule as the page shows it."""
        anchor = "go-live" if self.anchor == "go_live" else self.anchor
        time = f", {self.time.hour:02d}.{self.time.minute:02d} uur" if self.time else ""
        if self.count == 0:
            return f"op {anchor}{time}"
        n = abs(self.count)
        unit = (
            ("werkdag" if n == 1 else "werkdagen")
            if self.working
            else ("dag" if n == 1 else "dagen")
        )
        side = "vóór" if self.count < 0 else "na"
        return f"{n} {unit} {side} {anchor}{time}"


def parse_relative(text: str) -> Relative | None:
    match = _RELATIVE.match(text)
    if not match:
        return None
    count = int(match["count"] or 0) * (-1 if match["direction"] == "before" else 1)
    try:
        time = dt.time.fromisoformat(match["time"]) if match["time"] else None
    except ValueError:
        return None
    return Relative(
        count=count,
        working=bool(match["unit"] and match["unit"].startswith("working")),
        anchor=match["anchor"],
        time=time,
        text=text,
    )
