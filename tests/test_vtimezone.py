"""The VTIMEZONE every feed carries, read back by icalendar, states the same transitions
as the tz database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from icalendar import Timezone, vRecur

from calgen.core.schedule import FIRST_YEAR, LAST_YEAR
from calgen.render.ical.vtimezone import VTIMEZONE

AMS = ZoneInfo("Europe/Amsterdam")


def _last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return day - dt.timedelta(days=(day.weekday() - 6) % 7)


def _rule(kind: str) -> tuple[int, dt.time, dt.timedelta, dt.timedelta]:
    # read back the bytes every feed carries
    zone = Timezone.from_ical(VTIMEZONE)
    component = next(c for c in zone.subcomponents if c.name == kind)
    rrule = component["RRULE"]
    assert isinstance(rrule, vRecur)
    assert rrule["FREQ"] == ["YEARLY"]
    assert rrule["BYDAY"] == ["-1SU"]
    return (
        rrule["BYMONTH"][0],
        component.decoded("DTSTART").time(),
        component.decoded("TZOFFSETFROM"),
        component.decoded("TZOFFSETTO"),
    )


def test_rrule_form_with_both_parts() -> None:
    text = VTIMEZONE.decode()
    assert "RDATE" not in text
    assert text.count("BEGIN:DAYLIGHT") == 1
    assert text.count("BEGIN:STANDARD") == 1
    assert "DTSTART:19700329T020000" in text  # DAYLIGHT onset 02:00 local


@pytest.mark.parametrize("year", range(FIRST_YEAR, LAST_YEAR + 1))
def test_transitions_match_zoneinfo(year: int) -> None:
    for kind in ("DAYLIGHT", "STANDARD"):
        month, at, offset_from, offset_to = _rule(kind)
        change = dt.datetime.combine(_last_sunday(year, month), at)
        # the instant of the change, from the rule's own "from" offset
        instant = (change - offset_from).replace(tzinfo=dt.UTC)
        before = (instant - dt.timedelta(minutes=1)).astimezone(AMS).utcoffset()
        after = instant.astimezone(AMS).utcoffset()
        assert (before, after) == (offset_from, offset_to), f"{kind} {year}"
