"""The VTIMEZONE for Europe/Amsterdam, in the RRULE form clients read correctly.

icalendar can generate a VTIMEZONE from zoneinfo, but writes the DAYLIGHT onset as
03:00 local; ical.js then places events between 03:00 and 04:00 on the spring-change
Sunday an hour off. Outlook misreads long RDATE lists. So the zone is written here as
the EU rule (since 1996): summer time from the last Sunday of March 02:00 (CET) to the
last Sunday of October 03:00 (CEST). `tests/test_vtimezone.py` proves it against
zoneinfo for every year calgen accepts, and the conformance suite against real clients.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from calgen.render import lines

if TYPE_CHECKING:
    from icalendar import Timezone

TZID = "Europe/Amsterdam"


def _part(name: str, start: str, month: int, offsets: tuple[str, str], tzname: str) -> bytes:
    return lines.component(
        name,
        [
            ("DTSTART", start),
            ("RRULE", f"FREQ=YEARLY;BYDAY=-1SU;BYMONTH={month}"),
            ("TZNAME", tzname),
            ("TZOFFSETFROM", offsets[0]),
            ("TZOFFSETTO", offsets[1]),
        ],
    )


# What every feed carries; `amsterdam()` below builds the same with icalendar, and
# tests/test_vtimezone.py checks that the two are the same bytes.
VTIMEZONE = lines.component(
    "VTIMEZONE",
    [("TZID", TZID)],
    [
        _part("DAYLIGHT", "19700329T020000", 3, ("+0100", "+0200"), "CEST"),
        _part("STANDARD", "19701025T030000", 10, ("+0200", "+0100"), "CET"),
    ],
)


def amsterdam() -> Timezone:
    """The same zone as an icalendar component (for tests and for reading)."""
    from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

    tz = Timezone()
    tz.add("tzid", TZID)
    daylight = TimezoneDaylight()
    daylight.add("tzname", "CEST")
    daylight.add("tzoffsetfrom", dt.timedelta(hours=1))
    daylight.add("tzoffsetto", dt.timedelta(hours=2))
    daylight.add("dtstart", dt.datetime(1970, 3, 29, 2, 0))  # noqa: DTZ001 - local, per RFC 5545
    daylight.add("rrule", {"freq": "yearly", "bymonth": 3, "byday": "-1su"})
    standard = TimezoneStandard()
    standard.add("tzname", "CET")
    standard.add("tzoffsetfrom", dt.timedelta(hours=2))
    standard.add("tzoffsetto", dt.timedelta(hours=1))
    standard.add("dtstart", dt.datetime(1970, 10, 25, 3, 0))  # noqa: DTZ001 - local, per RFC 5545
    standard.add("rrule", {"freq": "yearly", "bymonth": 10, "byday": "-1su"})
    tz.add_component(daylight)
    tz.add_component(standard)
    return tz
