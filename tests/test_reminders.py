"""Reminder lead times: parsing, precedence, and when each goes off."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from icalendar import Calendar, vDDDTypes

from calgen.core.errors import CalgenError
from calgen.core.reminders import (
    DEFAULTS,
    Kind,
    Lead,
    OfficeHours,
    ReminderPolicy,
    parse_lead,
    parse_office_hours,
)
from calgen.notify import due
from calgen.runbook.validate import load_runbook
from calgen.site.outputs import render_all
from tests.calendars import AMS as DEFAULT_CALENDAR_ZONE
from tests.calendars import DEFAULT_CALENDAR, alarm_instants, local
from tests.conftest import ROOT, TESTDATA

WEEK, DAY, TWO_HOURS, WORKDAY = (
    Lead(amount=1, unit="week"),
    Lead(amount=1, unit="day"),
    Lead(amount=2, unit="hour"),
    Lead(amount=1, unit="working day"),
)


@pytest.mark.parametrize(
    ("text", "lead"),
    [
        ("1 week", WEEK),
        ("2 weeks", Lead(amount=2, unit="week")),
        ("1 day", DAY),
        ("2 hours", TWO_HOURS),
        ("30 minutes", Lead(amount=30, unit="minute")),
        ("1 working day", WORKDAY),
        ("3 working days", Lead(amount=3, unit="working day")),
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
    assert lead.raw_trigger(local(moment), DEFAULT_CALENDAR) == local(expected)
    assert replace(lead, hours=None).trigger(local(moment), DEFAULT_CALENDAR) == local(expected)


@pytest.mark.parametrize(
    ("lead", "moment", "expected"),
    [
        # within office hours: kept
        (WEEK, "2022-03-30 17:00", "2022-03-23 17:00"),
        (WORKDAY, "2022-04-04 08:00", "2022-04-01 08:00"),  # 08:00 and 18:00 are inside
        (WORKDAY, "2022-04-04 18:00", "2022-04-01 18:00"),
        # a 23:00 deadline: 1 working day before is 23:00 the day before -> 18:00 that day
        (WORKDAY, "2022-03-30 23:00", "2022-03-29 18:00"),
        # before 08:00: the working day before at 18:00
        (WORKDAY, "2022-03-30 07:30", "2022-03-28 18:00"),
        (TWO_HOURS, "2022-03-30 09:00", "2022-03-29 18:00"),
        # go-live Monday 5 April 2027: a week before is Easter Monday; Good Friday 26
        # March is no working day either -> Thursday 25 March 18:00
        (WEEK, "2027-04-05 13:00", "2027-03-25 18:00"),
        # the day after Easter Monday: working days skip Easter, "1 day" lands on it
        (WORKDAY, "2027-03-30 17:00", "2027-03-25 17:00"),
        (DAY, "2027-03-30 17:00", "2027-03-25 18:00"),
        # 2018's Sunday deadline 3.1.1: a week before is a Sunday -> Friday 18:00
        (WEEK, "2018-03-18 23:00", "2018-03-09 18:00"),
        # an all-day fact (00:00): 1 working day before is 00:00 -> 18:00 the day before
        (WORKDAY, "2022-04-01 00:00", "2022-03-30 18:00"),
    ],
)
def test_humane_moment(lead: Lead, moment: str, expected: str) -> None:
    fired = lead.trigger(local(moment), DEFAULT_CALENDAR)
    assert fired == local(expected)
    assert fired <= lead.raw_trigger(local(moment), DEFAULT_CALENDAR)  # only ever earlier


def test_office_hours_from_runbook() -> None:
    short = OfficeHours(start=dt.time(9, 0), end=dt.time(12, 0))
    policy = ReminderPolicy(default=(WORKDAY,), office_hours=short)
    (lead,) = policy.leads(Kind.DEADLINE, None)
    assert lead == WORKDAY
    assert lead.hours == short
    assert lead.trigger(local("2022-03-30 17:00"), DEFAULT_CALENDAR) == local("2022-03-29 12:00")
    (off,) = ReminderPolicy(default=(WORKDAY,), office_hours=None).leads(Kind.DEADLINE, None)
    assert off.trigger(local("2022-03-30 23:00"), DEFAULT_CALENDAR) == local("2022-03-29 23:00")
    assert parse_office_hours("off") is None
    assert parse_office_hours(False) is None
    assert parse_office_hours({"start": "09:00", "end": "12:00"}) == short
    with pytest.raises(ValueError, match="not before"):
        parse_office_hours({"start": "18:00", "end": "08:00"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{start: "18:00", end: "08:00"}', "office hours start 18:00 is not before end 08:00"),
        ('{start: "8 uur", end: "18:00"}', "is not a time of day written HH:MM"),
        ('{start: "08:00"}', "missing required key 'end'"),
        ("on", ""),
        # YAML 1.1 reads an unquoted 18:00 as the number 1080: say how to write it
        ('{start: "08:00", end: 18:00}', "found the number 1080; write it in quotes: '18:00'"),
    ],
)
def test_office_hours_refused(tmp_path: Path, value: str, message: str) -> None:
    source = (TESTDATA / "valid" / "dst-2022.yaml").read_text(encoding="utf-8")
    bad = source.replace("office_hours: off", f"office_hours: {value}")
    assert bad != source
    shutil.copytree(TESTDATA / "valid" / "shared", tmp_path / "shared")  # what it `uses`
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(CalgenError) as failure:
        load_runbook(path)
    text = str(failure.value)
    assert "bad.yaml:15" in text, text
    assert "reminders.office_hours" in text, text
    assert message in text


def test_precedence() -> None:
    policy = ReminderPolicy(
        default=(WEEK,), roles={"vecozo": (TWO_HOURS,)}, kinds={"period": (DAY,)}
    )
    assert policy.leads(Kind.DEADLINE, None) == (WEEK,)
    assert policy.leads(Kind.PERIOD, "gemeenten") == (DAY,)
    assert policy.leads(Kind.PERIOD, "vecozo") == (TWO_HOURS,)  # role before kind
    assert policy.leads(Kind.DEADLINE, "vecozo", own=()) == ()  # the milestone's own, even none
    assert ReminderPolicy().leads(Kind.DEADLINE, None) == DEFAULTS[Kind.DEADLINE]


def test_feeds_carry_each_roles_reminders() -> None:
    runbook, _ = load_runbook(TESTDATA / "valid" / "dst-2022.yaml")
    outputs = render_all([runbook])

    def triggers(feed: str, number: str) -> list[str]:
        cal = Calendar.from_ical(outputs[f"dst-2022/{feed}.ics"])
        event = next(e for e in cal.walk("VEVENT") if str(e["SUMMARY"]).startswith(number + " "))
        out = []
        for alarm in event.walk("VALARM"):
            trigger = alarm["TRIGGER"]
            assert isinstance(trigger, vDDDTypes), trigger
            out.append(trigger.to_ical().decode())
        return out

    assert triggers("vecozo", "1.1.3") == ["-PT2H"]  # the role's lead time
    assert triggers("gemeenten", "1.2.4") == []  # switched off for this milestone
    # the milestone's own lead times; hours across the jump: an exact instant
    assert triggers("zorgaanbieders", "1.1.2") == [
        "20220326T233000Z",  # 2 hours before 01:30Z
        "-P1D",  # 1 day: 03:30 the day before (still winter time), a nominal day
        "20220327T000000Z",  # 90 minutes
    ]
    all_phases = Calendar.from_ical(outputs["dst-2022/all.ics"]).walk("VEVENT")[:3]
    assert all(not p.walk("VALARM") for p in all_phases)  # kinds: {phase: []}


@pytest.mark.parametrize("seed", ["iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1"])
def test_email_fires_when_the_feed_does(seed: str) -> None:
    """`calgen notify` and the feeds go off at the same moments: per role, the instants
    of every reminder e-mail equal the VALARM instants of that role's feed."""
    runbook, _ = load_runbook(ROOT / "runbooks" / f"{seed}.yaml")
    outputs = render_all([runbook])
    roles = [r.id for r in runbook.roles]
    candidates = due.items(runbook, "")
    far = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    for role in roles:
        mailed = sorted(
            d.trigger.astimezone(dt.UTC) for d in due.role_dues(runbook, candidates, role, far)
        )
        in_feed = sorted(
            moment.astimezone(dt.UTC)
            for event in Calendar.from_ical(outputs[f"{seed}/{role}.ics"]).walk("VEVENT")
            for moment in alarm_instants(event)
        )
        assert mailed, role
        assert mailed == in_feed, role
        for moment in mailed:
            local = moment.astimezone(DEFAULT_CALENDAR_ZONE)
            assert runbook.calendar.is_working(local.date()), local
            assert dt.time(8) <= local.time() <= dt.time(18), local
