"""Per-role iCalendar feeds for one runbook.

Each event is serialized once and the bytes reused in every feed that carries it
(`all.ics` and each role's feed), so adding roles costs almost nothing. Feeds are
deterministic: UIDs come from runbook id + milestone id, DTSTAMP from the runbook's own
dates, PRODID is passed in, and nothing reads the clock.

Which feed carries what (documented in the README):
- phases: every feed;
- a milestone: the feeds of its action holders (`roles`) plus the roles its section or
  the milestone itself names in `inform` (section 3.2, blocking and go-live: all roles);
- a dated fact (`events`): the feeds of its `roles`;
- `all.ics`: everything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import jinja2
from icalendar import Alarm, Calendar, Event, vDuration

from calgen.model import Event as Fact
from calgen.model import Milestone, Phase, Runbook
from calgen.reminders import Lead
from calgen.render import dutch
from calgen.render.vtimezone import amsterdam

PRODID = "-//calgen//Landelijk draaiboek migratie//NL"
ALL = "all"


@dataclass(frozen=True)
class FeedItem:
    uid: str
    data: bytes  # one serialized VEVENT without alarms, CRLF line ends, folded
    audience: frozenset[str]
    kind: str  # deadline, period, phase, event (calgen.reminders)
    start: dt.datetime
    title: str  # what the reminder says it is about
    when: str  # and when, in Dutch
    own: tuple[Lead, ...] | None = None  # the item's own lead times
    all_day: bool = False


def uid(runbook: Runbook, kind: str, item_id: str) -> str:
    """Stable across every edit of text or time: only the runbook and item ids count."""
    return f"{kind}-{item_id}.{runbook.id}@calgen"


def phase_label(phase: Phase) -> str:
    return f"Fase {phase.number}: {phase.title}"


def summary(milestone: Milestone) -> str:
    """`3.1.2 Alle heenberichten verzonden door aanbieders (305, 307, 315, 317)`"""
    codes = ", ".join(ref.written for ref in milestone.messages)
    return f"{milestone.id} {milestone.title}" + (f" ({codes})" if codes else "")


def actionholder(runbook: Runbook, milestone: Milestone) -> str:
    if milestone.actionholder:
        return milestone.actionholder
    return ", ".join(runbook.role(r).name for r in milestone.roles)


def _event(runbook: Runbook, kind: str, item_id: str) -> Event:
    event = Event()
    event.add("uid", uid(runbook, kind, item_id))
    event.add("dtstamp", runbook.stamp)
    event.add("sequence", 0)
    event.add("class", "PUBLIC")
    event.add("status", "CONFIRMED")
    # deadlines and phases must not make anyone look busy
    event.add("transp", "TRANSPARENT")
    return event


def _timed(event: Event, start: dt.datetime, end: dt.datetime | None) -> None:
    event.add("dtstart", start)
    # A deadline is a moment: its end is its start (written out, so that every client
    # agrees instead of guessing a default length).
    event.add("dtend", end or start)


def _phase_item(env: jinja2.Environment, runbook: Runbook, phase: Phase) -> FeedItem:
    event = _event(runbook, "fase", phase.id)
    event.add("summary", phase_label(phase))
    _timed(event, phase.start, phase.end)
    event.add("categories", ["Fase"])
    description = env.get_template("ics/phase.txt.j2").render(
        runbook=runbook, phase=phase, phase_label=phase_label(phase)
    )
    event.add("description", description.strip())
    return FeedItem(
        str(event["uid"]),
        event.to_ical(),
        frozenset(r.id for r in runbook.roles),
        "phase",
        phase.start,
        phase_label(phase),
        dutch.when(phase.start),
    )


def _milestone_item(
    env: jinja2.Environment, runbook: Runbook, milestone: Milestone, base_url: str
) -> FeedItem:
    phase = next(p for p in runbook.phases if p.id == milestone.phase)
    section = next(s for s in runbook.sections if s.number == milestone.section)
    event = _event(runbook, "mijlpaal", milestone.id)
    event.add("summary", summary(milestone))
    _timed(event, milestone.start, milestone.end)
    event.add("categories", [phase_label(phase)])
    description = env.get_template("ics/description.txt.j2").render(
        runbook=runbook,
        m=milestone,
        section=section,
        phase_label=phase_label(phase),
        actionholder=actionholder(runbook, milestone),
    )
    event.add("description", description.strip())
    if base_url:
        # the milestone's row on the published page (calgen.render.document.anchor)
        event.add("url", f"{base_url.rstrip('/')}/{runbook.id}/#m-{milestone.id}")
    return FeedItem(
        str(event["uid"]),
        event.to_ical(),
        milestone.audience,
        milestone.kind,
        milestone.start,
        summary(milestone),
        dutch.when(milestone.start, milestone.end),
        milestone.reminders,
    )


def _fact_item(env: jinja2.Environment, runbook: Runbook, fact: Fact) -> FeedItem:
    event = _event(runbook, "datum", fact.id)
    event.add("summary", fact.title)
    if fact.day is not None:
        event.add("dtstart", fact.day)
        event.add("dtend", fact.day + dt.timedelta(days=1))
        when_text = dutch.date_long(fact.day)
    else:
        assert fact.start is not None
        _timed(event, fact.start, fact.end)
        when_text = dutch.when(fact.start, fact.end)
    description = env.get_template("ics/event.txt.j2").render(
        runbook=runbook, event=fact, when_text=when_text
    )
    event.add("description", description.strip())
    return FeedItem(
        str(event["uid"]),
        event.to_ical(),
        frozenset(fact.roles),
        "event",
        fact.moment,
        fact.title,
        when_text,
        fact.reminders,
        all_day=fact.day is not None,
    )


def items(env: jinja2.Environment, runbook: Runbook, base_url: str = "") -> list[FeedItem]:
    """Every event of the runbook, serialized once, in the runbook's order."""
    out = [_phase_item(env, runbook, p) for p in runbook.phases]
    out += [_milestone_item(env, runbook, m, base_url) for m in runbook.milestones]
    out += [_fact_item(env, runbook, f) for f in runbook.events]
    return out


def _calendar_head(runbook: Runbook, name: str, description: str, prodid: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", prodid)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    cal.add("description", description)
    cal.add("x-wr-caldesc", description)
    cal.add("x-wr-timezone", "Europe/Amsterdam")
    refresh = dt.timedelta(seconds=_seconds(runbook.refresh))
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    head: bytes = cal.to_ical()
    return head[: -len(b"END:VCALENDAR\r\n")]


def _seconds(duration: str) -> int:
    """`PT12H`, `PT30M`, `P1D` (the forms the schema admits) in seconds."""
    number = int("".join(c for c in duration if c.isdigit()))
    unit = duration[-1]
    return number * {"H": 3600, "M": 60, "D": 86400}[unit]


def render_feeds(
    env: jinja2.Environment, runbook: Runbook, prodid: str = PRODID, base_url: str = ""
) -> dict[str, bytes]:
    """`{"all.ics": ..., "gemeenten.ics": ..., ...}` for one runbook."""
    serialized = items(env, runbook, base_url)
    alarm = env.get_template("ics/alarm.txt.j2")

    @cache
    def with_alarms(item: FeedItem, leads: tuple[Lead, ...]) -> bytes:
        """The item's bytes with one VALARM per lead time, made once per distinct set."""
        if not leads:
            return item.data
        alarms = []
        for lead in leads:
            component = Alarm()
            component.add("action", "DISPLAY")
            text = alarm.render(title=item.title, when=item.when, lead=lead.dutch())
            component.add("description", text.strip())
            fixed = lead.duration()
            moment = lead.trigger(item.start, runbook.calendar)
            if fixed is None or item.all_day or moment.utcoffset() != item.start.utcoffset():
                # The moment itself, in UTC, when a duration would be read differently:
                # working days have no fixed length; a duration before an all-day event is
                # read as a floating date; and across a DST change ical.js and libical
                # subtract hours on the wall clock, not in real time as RFC 5545 says.
                component.add(
                    "trigger", moment.astimezone(dt.UTC), parameters={"VALUE": "DATE-TIME"}
                )
            else:
                component.add("trigger", -fixed)  # before DTSTART
            alarms.append(component.to_ical())
        end = item.data.rindex(b"END:VEVENT\r\n")
        return item.data[:end] + b"".join(alarms) + item.data[end:]

    zone: bytes = amsterdam().to_ical()
    feeds: dict[str, bytes] = {}
    targets = [(ALL, "alle rollen")] + [(r.id, r.name) for r in runbook.roles]
    for feed_id, role_name in targets:
        name = f"{runbook.title} ({role_name})"
        description = (
            f"Mijlpalen en fasen uit het {runbook.title}"
            + ("" if feed_id == ALL else f" voor {role_name.lower()}")
            + "."
        )
        role = None if feed_id == ALL else feed_id
        body = [
            with_alarms(item, runbook.reminders.leads(item.kind, role, item.own))
            for item in serialized
            if role is None or role in item.audience
        ]
        feeds[f"{feed_id}.ics"] = b"".join(
            [_calendar_head(runbook, name, description, prodid), zone, *body, b"END:VCALENDAR\r\n"]
        )
    return feeds


__all__ = ["PRODID", "FeedItem", "render_feeds", "summary", "uid"]
