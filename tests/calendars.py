"""Domain assertions over a feed, in the style of vacanza/holidays' test helpers:

    feed = Feed.parse(data)
    assert_event_at(feed, "3.1.2", "2022-03-30 17:00")
    assert_not_in_feed(feed, "3.1.3")

Times in assertions are Europe/Amsterdam wall-clock times, as a runbook writes them;
the helpers compare instants, so an event an hour off fails.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component

from calgen.core.schedule import WorkCalendar

AMS = ZoneInfo("Europe/Amsterdam")
# Weekends and every Dutch public holiday, as a runbook without `working_days` counts them
DEFAULT_CALENDAR = WorkCalendar()


def local(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=AMS)


@dataclass
class Feed:
    calendar: Calendar
    name: str = ""

    @classmethod
    def parse(cls, data: bytes, name: str = "") -> Feed:
        return cls(Calendar.from_ical(data), name)

    def events(self) -> list[Component]:
        return list(self.calendar.walk("VEVENT"))

    def numbers(self) -> list[str]:
        """Milestone numbers in the feed, from the SUMMARY prefix."""
        out = []
        for event in self.events():
            first = str(event["SUMMARY"]).split(" ", 1)[0]
            if first[:1].isdigit():
                out.append(first)
        return out

    def event(self, number: str) -> Component:
        found = [e for e in self.events() if str(e["SUMMARY"]).startswith(number + " ")]
        assert len(found) == 1, f"{self.name}: {len(found)} events numbered {number}"
        return found[0]


def assert_event_at(feed: Feed, number: str, moment: str) -> None:
    """A deadline: starts at the local `moment`, and that is all it says."""
    event = feed.event(number)
    start = event.decoded("DTSTART")
    assert start == local(moment), f"{feed.name} {number}: starts {start}, not {moment}"
    # a moment: no DTEND and no DURATION, which RFC 5545 3.6.1 reads as ending at DTSTART
    assert "DTEND" not in event, f"{feed.name} {number}: a deadline has no end"
    assert "DURATION" not in event, f"{feed.name} {number}: a deadline has no length"


def assert_period(feed: Feed, number: str, start: str, end: str) -> None:
    event = feed.event(number)
    assert event.decoded("DTSTART") == local(start), f"{feed.name} {number} start"
    assert event.decoded("DTEND") == local(end), f"{feed.name} {number} end"


def assert_in_feed(feed: Feed, number: str) -> None:
    assert number in feed.numbers(), f"{number} missing from {feed.name}"


def assert_not_in_feed(feed: Feed, number: str) -> None:
    assert number not in feed.numbers(), f"{number} should not be in {feed.name}"


def alarm_instants(event: Any) -> list[dt.datetime]:
    """Each VALARM's moment, read from the feed: an absolute trigger as is; a relative one
    added to DTSTART on the wall clock (days are nominal; calgen writes a time part only
    where no DST change lies between, so wall clock and real time agree)."""
    start = event.decoded("DTSTART")
    out = []
    for alarm in event.walk("VALARM"):
        trigger = alarm.decoded("TRIGGER")
        if isinstance(trigger, dt.datetime):
            out.append(trigger.astimezone(AMS))
        else:
            wall = start.replace(tzinfo=None) + trigger
            out.append(wall.replace(tzinfo=AMS))
    return out
