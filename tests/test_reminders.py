"""Reminder lead times: parsing, precedence, and when each goes off."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from calgen.model import load_runbook
from calgen.publish import render_all
from calgen.reminders import DEFAULTS, Lead, ReminderPolicy, parse_lead
from calgen.schedule import DEFAULT_CALENDAR
from tests.calendars import local
from tests.conftest import TESTDATA

WEEK, DAY, TWO_HOURS, WORKDAY = (
    Lead(1, "week"),
    Lead(1, "day"),
    Lead(2, "hour"),
    Lead(1, "working day"),
)


@pytest.mark.parametrize(
    ("text", "lead"),
    [
        ("1 week", WEEK),
        ("2 weeks", Lead(2, "week")),
        ("1 day", DAY),
        ("2 hours", TWO_HOURS),
        ("30 minutes", Lead(30, "minute")),
        ("1 working day", WORKDAY),
        ("3 working days", Lead(3, "working day")),
    ],
)
def test_parse(text: str, lead: Lead) -> None:
    assert parse_lead(text) == lead


@pytest.mark.parametrize("text", ["1 wk", "one day", "2 werkdagen", "-1 day"])
def test_parse_refused(text: str) -> None:
    assert parse_lead(text) is None


@pytest.mark.parametrize(
    ("lead", "moment", "expected"),
    [
        (WEEK, "2022-03-30 17:00", "2022-03-23 17:00"),  # nominal: same wall-clock time
        (DAY, "2022-03-28 09:00", "2022-03-27 09:00"),
        (TWO_HOURS, "2022-03-27 03:30", "2022-03-27 00:30"),  # exact: across the jump
        (WORKDAY, "2022-04-04 13:00", "2022-04-01 13:00"),  # Monday -> Friday
        (WORKDAY, "2018-04-03 13:00", "2018-03-29 13:00"),  # over Easter
    ],
)
def test_trigger(lead: Lead, moment: str, expected: str) -> None:
    assert lead.trigger(local(moment), DEFAULT_CALENDAR) == local(expected)


def test_precedence() -> None:
    policy = ReminderPolicy(
        default=(WEEK,), roles={"vecozo": (TWO_HOURS,)}, kinds={"period": (DAY,)}
    )
    assert policy.leads("deadline", None) == (WEEK,)
    assert policy.leads("period", "gemeenten") == (DAY,)
    assert policy.leads("period", "vecozo") == (TWO_HOURS,)  # role before kind
    assert policy.leads("deadline", "vecozo", own=()) == ()  # the milestone's own, even none
    assert ReminderPolicy().leads("deadline", None) == DEFAULTS["deadline"]


def test_feeds_carry_each_roles_reminders() -> None:
    runbook, _ = load_runbook(TESTDATA / "valid" / "dst-2022.yaml")
    outputs = render_all([runbook])

    def triggers(feed: str, number: str) -> list[str]:
        cal = Calendar.from_ical(outputs[f"dst-2022/{feed}.ics"])
        event = next(e for e in cal.walk("VEVENT") if str(e["SUMMARY"]).startswith(number + " "))
        return [a["TRIGGER"].to_ical().decode() for a in event.walk("VALARM")]

    assert triggers("vecozo", "1.1.3") == ["-PT2H"]  # the role's lead time
    assert triggers("gemeenten", "1.2.4") == []  # switched off for this milestone
    # the milestone's own lead times; across the jump an exact instant, not a duration
    assert triggers("zorgaanbieders", "1.1.2") == [
        "20220326T233000Z",  # 2 hours before 01:30Z
        "20220326T023000Z",  # 1 day: 03:30 the day before, still winter time
        "20220327T000000Z",  # 90 minutes
    ]
    all_phases = Calendar.from_ical(outputs["dst-2022/all.ics"]).walk("VEVENT")[:3]
    assert all(not p.walk("VALARM") for p in all_phases)  # kinds: {phase: []}
