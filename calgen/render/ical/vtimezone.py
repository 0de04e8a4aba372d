"""The VTIMEZONE for Europe/Amsterdam, in the RRULE form clients read correctly.

icalendar can generate a VTIMEZONE from zoneinfo, but writes the DAYLIGHT onset as
03:00 local; ical.js then places events between 03:00 and 04:00 on the spring-change
Sunday an hour off. Outlook misreads long RDATE lists. So the zone is written here as
the EU rule (since 1996): summer time from the last Sunday of March 02:00 (CET) to the
last Sunday of October 03:00 (CEST). `tests/test_vtimezone.py` proves it against
zoneinfo for every year calgen accepts, and the conformance suite against real clients.
"""

from __future__ import annotations

from calgen.render.ical import lines

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


# What every feed carries; tests/test_vtimezone.py reads it back with icalendar.
VTIMEZONE = lines.component(
    "VTIMEZONE",
    [("TZID", TZID)],
    [
        _part("DAYLIGHT", "19700329T020000", 3, ("+0100", "+0200"), "CEST"),
        _part("STANDARD", "19701025T030000", 10, ("+0200", "+0100"), "CET"),
    ],
)
