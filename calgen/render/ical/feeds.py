"""Per-role iCalendar feeds for one runbook.

Each event is serialized once and the bytes reused in every feed that carries it
(`all.ics` and each role's feed), so adding roles costs almost nothing. Feeds are
deterministic: the items and their UIDs come from calgen.runbook.items, DTSTAMP from the
runbook's own dates, PRODID is passed in, and nothing reads the clock.

Which feed carries what (documented in the README):
- phases: every feed;
- a milestone: the feeds of its action holders (`roles`) plus the roles its section or
  the milestone itself names in `inform` (section 3.2, blocking and go-live: all roles);
- a dated fact (`events`): the feeds of its `roles`;
- `all.ics`: everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache

import jinja2

from calgen.core import dutch, layout
from calgen.core.reminders import Lead
from calgen.render.ical import lines
from calgen.render.ical.vtimezone import TZID, VTIMEZONE
from calgen.runbook.items import (
    CONCEPT_PREFIX,
    ScheduledItem,
    actionholder,
    concept_banner,
    phase_label,
    scheduled_items,
)
from calgen.runbook.model import Event, Milestone, Phase, Runbook, Section

PRODID = "-//calgen//Landelijk draaiboek migratie//NL"


@dataclass(frozen=True, kw_only=True, eq=False)  # hashed by identity: one per event
class FeedItem:
    """A scheduled item (calgen.runbook.items) and its event, serialized once."""

    item: ScheduledItem
    data: bytes  # one serialized VEVENT without alarms, CRLF line ends, folded
    when: str  # when, in Dutch, for its reminders' text
    all_day: bool = False


def _macro(env: jinja2.Environment, template: str, name: str) -> Callable[..., str]:
    """A template's macro, to call from Python: far cheaper per call than rendering a
    whole template, for text made once per milestone or reminder."""
    found: Callable[..., str] | None = getattr(env.get_template(template).module, name, None)
    if found is None:  # a user's copy of the template without it
        raise jinja2.TemplateError(f"{template} must define the macro `{name}`")
    return found


def _vevent(
    runbook: Runbook,
    item: ScheduledItem,
    when: tuple[tuple[str, str], ...],
    categories: str,  # "" for none
    description: str,
) -> bytes:
    """One VEVENT, in icalendar's property order (canonical first, then alphabetical).
    A concept's events are TENTATIVE, and their description opens with the banner."""
    banner = concept_banner(runbook)
    if banner:
        description = f"{banner}\n\n{description}"
    properties = [
        ("SUMMARY", lines.escape(item.title)),
        *when,
        ("DTSTAMP", lines.utc(runbook.stamp)),
        ("UID", lines.escape(item.uid)),
        ("SEQUENCE", "0"),
        *([("CATEGORIES", lines.escape(categories))] if categories else []),
        ("CLASS", "PUBLIC"),
        ("DESCRIPTION", lines.escape(description)),
        ("STATUS", "TENTATIVE" if banner else "CONFIRMED"),
        # deadlines and phases must not make anyone look busy
        ("TRANSP", "TRANSPARENT"),
    ]
    if item.link:
        properties.append(("URL", item.link))
    return lines.component("VEVENT", properties)


def _timed(start: dt.datetime, end: dt.datetime | None) -> tuple[tuple[str, str], ...]:
    # A deadline is a moment: DTSTART and no DTEND, which RFC 5545 (3.6.1) defines as
    # ending when it starts. Measured (docs, "Calendar clients"): calcurse refuses
    # DTEND equal to DTSTART and DURATION:PT0S and so drops the event; a short span
    # would state an end that is not in the runbook.
    start_line = (f"DTSTART;TZID={TZID}", lines.local(start))
    if end is None:
        return (start_line,)
    return (start_line, (f"DTEND;TZID={TZID}", lines.local(end)))


def _phase_item(
    env: jinja2.Environment, runbook: Runbook, item: ScheduledItem, phase: Phase
) -> FeedItem:
    description = env.get_template("ics/phase.txt.j2").render(
        runbook=runbook, phase=phase, phase_label=item.title
    )
    data = _vevent(runbook, item, _timed(phase.start, phase.end), "Fase", description.strip())
    return FeedItem(item=item, data=data, when=dutch.when(phase.start))


def _milestone_item(
    env: jinja2.Environment,
    runbook: Runbook,
    item: ScheduledItem,
    milestone: Milestone,
    phases: Mapping[str, Phase],
    sections: Mapping[str, Section],
) -> FeedItem:
    label = phase_label(phases[milestone.phase])
    description = _macro(env, "ics/description.txt.j2", "description")(
        runbook,
        milestone,
        sections[milestone.section],
        label,
        actionholder(runbook, milestone),
    )
    timed = _timed(milestone.start, milestone.end)
    data = _vevent(runbook, item, timed, label, description.strip())
    when = dutch.when(milestone.start, milestone.end)
    if milestone.time_label:
        when += f" ({milestone.time_label})"
    return FeedItem(item=item, data=data, when=when)


def _event_item(
    env: jinja2.Environment, runbook: Runbook, item: ScheduledItem, event: Event
) -> FeedItem:
    when: tuple[tuple[str, str], ...]
    if event.day is not None:
        when = (
            ("DTSTART;VALUE=DATE", event.day.strftime("%Y%m%d")),
            ("DTEND;VALUE=DATE", (event.day + dt.timedelta(days=1)).strftime("%Y%m%d")),
        )
        when_text = dutch.date_long(event.day)
    else:
        assert event.start is not None
        when = _timed(event.start, event.end)
        when_text = dutch.when(event.start, event.end)
    description = env.get_template("ics/event.txt.j2").render(
        runbook=runbook, event=event, when_text=when_text
    )
    data = _vevent(runbook, item, when, "", description.strip())
    return FeedItem(item=item, data=data, when=when_text, all_day=event.day is not None)


def items(env: jinja2.Environment, runbook: Runbook, base_url: str = "") -> list[FeedItem]:
    """Every scheduled item of the runbook as a VEVENT, serialized once, in the runbook's order."""
    phases = {p.id: p for p in runbook.phases}
    sections = {s.number: s for s in runbook.sections}
    out = []
    for item in scheduled_items(runbook, base_url):
        source = item.source
        if isinstance(source, Phase):
            out.append(_phase_item(env, runbook, item, source))
        elif isinstance(source, Milestone):
            out.append(_milestone_item(env, runbook, item, source, phases, sections))
        else:
            out.append(_event_item(env, runbook, item, source))
    return out


def calendar_head(runbook: Runbook, name: str, description: str, prodid: str) -> bytes:
    """BEGIN:VCALENDAR and its properties, in icalendar's canonical order for a calendar,
    exactly as icalendar writes them (tests/test_lines.py)."""
    refresh = lines.duration(dt.timedelta(seconds=_seconds(runbook.refresh)))
    properties = [
        ("VERSION", "2.0"),
        ("PRODID", lines.escape(prodid)),
        ("CALSCALE", "GREGORIAN"),
        ("METHOD", "PUBLISH"),
        ("DESCRIPTION", lines.escape(description)),
        ("X-WR-CALDESC", lines.escape(description)),
        ("NAME", lines.escape(name)),
        ("X-WR-CALNAME", lines.escape(name)),
        ("REFRESH-INTERVAL;VALUE=DURATION", refresh),
        ("X-PUBLISHED-TTL", refresh),
        ("X-WR-TIMEZONE", TZID),
    ]
    return b"BEGIN:VCALENDAR\r\n" + b"".join(lines.fold(f"{k}:{v}") for k, v in properties)


def _seconds(duration: str) -> int:
    """`PT12H`, `PT30M`, `P1D` (the forms the schema admits) in seconds."""
    number = int("".join(c for c in duration if c.isdigit()))
    unit = duration[-1]
    return number * {"H": 3600, "M": 60, "D": 86400}[unit]


def _trigger(item: FeedItem, moment: dt.datetime) -> tuple[str, str]:
    """A VALARM's TRIGGER for a reminder at `moment`: relative to DTSTART wherever every
    reader computes the same instant from it, else the instant itself in UTC.

    Relative (khal ignores absolute triggers, so this is the form to prefer):
    - a whole number of days at the event's own time of day, `-P7D`: days are nominal
      (RFC 5545 3.3.6), so the wall-clock time is kept across a DST change;
    - days and a time of day, `-P1DT5H`, when no DST change lies between the reminder
      and the event (then nominal and exact time agree).
    Absolute otherwise (hours across a DST change: ical.js and libical count them on the
    wall clock), and before an all-day event, whose start is a floating date.
    """
    start = item.item.start.astimezone(moment.tzinfo)
    wall = start.replace(tzinfo=None) - moment.replace(tzinfo=None)
    # equal offsets at both ends and under 90 days apart: no DST change in between (the
    # Dutch changes are five and seven months apart)
    no_change = moment.utcoffset() == start.utcoffset() and wall < dt.timedelta(days=90)
    same_clock = wall.seconds == 0 or no_change
    if not item.all_day and wall > dt.timedelta(0) and same_clock:
        return ("TRIGGER", lines.duration(-wall))
    return ("TRIGGER;VALUE=DATE-TIME", lines.utc(moment))


def iter_feeds(
    env: jinja2.Environment, runbook: Runbook, prodid: str = PRODID, base_url: str = ""
) -> Iterator[tuple[str, bytes]]:
    """("all.ics", bytes), then each role's feed, one at a time."""
    for name, parts in feed_parts(env, runbook, prodid, base_url):
        yield name, b"".join(parts)


def feed_parts(
    env: jinja2.Environment, runbook: Runbook, prodid: str = PRODID, base_url: str = ""
) -> Iterator[tuple[str, list[bytes]]]:
    """Each feed as its parts: calendar head, VTIMEZONE, one bytes object per event (the
    same object in every feed that carries the event with the same alarms), the end. The
    durable feeds (calgen.render.ical.durable) keep the events' parts, not copies."""
    serialized = items(env, runbook, base_url)
    alarm = _macro(env, "ics/alarm.txt.j2", "alarm")

    @cache
    def with_alarms(item: FeedItem, leads: tuple[Lead, ...]) -> bytes:
        """The item's bytes with one VALARM per lead time, made once per distinct set."""
        if not leads:
            return item.data
        alarms = []
        for lead in leads:
            text = alarm(item.item.title, item.when, lead.dutch())
            trigger = _trigger(item, lead.trigger(item.item.start, runbook.calendar))
            properties = [
                ("ACTION", "DISPLAY"),
                ("DESCRIPTION", lines.escape(text.strip())),
                trigger,
            ]
            alarms.append(lines.component("VALARM", properties))
        end = item.data.rindex(b"END:VEVENT\r\n")
        return item.data[:end] + b"".join(alarms) + item.data[end:]

    zone = VTIMEZONE
    targets = [(layout.ALL, "alle rollen")] + [(r.id, r.name) for r in runbook.roles]
    banner = concept_banner(runbook)
    for feed_id, role_name in targets:
        name = (CONCEPT_PREFIX if banner else "") + f"{runbook.title} ({role_name})"
        description = (
            (f"{banner}. " if banner else "")
            + f"Mijlpalen en fasen uit het {runbook.title}"
            + ("" if feed_id == layout.ALL else f" voor {role_name.lower()}")
            + "."
        )
        role = None if feed_id == layout.ALL else feed_id
        body = [
            with_alarms(item, runbook.reminders.leads(item.item.kind, role, item.item.own))
            for item in serialized
            if role is None or role in item.item.audience
        ]
        head = calendar_head(runbook, name, description, prodid)
        yield layout.feed_file(feed_id), [head, zone, *body, b"END:VCALENDAR\r\n"]
