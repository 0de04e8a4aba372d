#!/usr/bin/python3
"""Independent iCalendar reader #2: libical (C) through GObject introspection.

Runs under Debian's system interpreter, NOT the project venv:

    /usr/bin/python3 tests/readers/libical_read.py FILE.ics [FILE.ics ...]

Needs the Debian packages python3-gi and gir1.2-ical-3.0 (libical 3.0.x).

Prints a JSON object on stdout, {FILE: [event, ...]}, one event per VEVENT, sorted by
uid:
{"uid", "summary", "start", "end"}; start/end are "YYYY-MM-DDTHH:MM:SSZ"
(UTC instant) for DATE-TIME values and "YYYY-MM-DD" for DATE values.
On a parse error: exit 1 with libical's message on stderr.

Time-zone source: the file's own VTIMEZONE.
  libical resolves a TZID parameter in icalproperty_get_datetime_with_component
  (used by icalcomponent_get_dtstart/_get_dtend) by first walking up the
  parents of the component and asking each for a VTIMEZONE with that TZID
  (icalcomponent_get_timezone), and only when none is found falling back to
  its built-in database (on Debian: the system zoneinfo from the tzdata
  package, with TZIDs "/freeassociation.sourceforge.net/Europe/Amsterdam").
  To make sure the fallback is never taken, this reader looks the TZID up in
  the VCALENDAR itself (Component.get_timezone(tzid)); a TZID that the file
  does not define is an error (exit 2), and the zone libical attached to the
  value must be that VTIMEZONE (same TZID, built from a component, no
  built-in "location"), else exit 3.
  How this was checked: (a) the built-in zone for Europe/Amsterdam has TZID
  "/freeassociation.sourceforge.net/Europe/Amsterdam" and location
  "Europe/Amsterdam", the zone on the parsed values has TZID
  "Europe/Amsterdam" and no location; (b) a file whose VTIMEZONE
  "Europe/Amsterdam" deliberately says +0300/+0400 gives instants 2 h earlier
  than real Amsterdam time; (c) a made-up TZID that only the file defines
  ("Calgen/Test-Zone") resolves.
UTC instants come from libical's own conversion (Time.convert_to_zone to the
UTC zone); there is no offset arithmetic here.

Folding and UTF-8: libical's C parser unfolds on octets, so a line folded
inside a multi-byte UTF-8 character is restored correctly by the C library
(checked by calling icalparser_parse_string through ctypes on such a file).
The GI binding, however, only takes text (a Python str that must be valid
UTF-8), and the physical lines of such a file are not valid UTF-8 on their
own. So this reader unfolds on octets first, exactly as RFC 5545 3.1 defines
unfolding (drop CRLF, or a bare LF, plus the one SPACE/HTAB after it), then
decodes strictly as UTF-8 (invalid UTF-8 is an error), then hands the text to
libical.

Missing DTEND: libical's icalcomponent_get_dtend gives DTSTART + DURATION,
or for a VEVENT with neither DTSTART itself (a DATE start: the next day).
"""

import json
import re
import sys
from typing import Any, NoReturn

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402

PROG = "libical_read"
CURRENT = ""  # the file being read


def fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"{PROG}: {CURRENT}: {message}\n" if CURRENT else f"{PROG}: {message}\n")
    sys.exit(code)


def unfold_octets(raw: bytes) -> bytes:
    """RFC 5545 3.1 unfolding on octets (CRLF or LF, then one SPACE/HTAB)."""
    return re.sub(rb"\r?\n[ \t]", b"", raw)


def lic_errors(comp: Any) -> list[str]:
    """The X-LIC-ERROR properties libical inserted while parsing, recursively."""
    out: list[str] = []
    prop = comp.get_first_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    while prop is not None:
        out.append(prop.as_ical_string().strip().replace("\r\n ", ""))
        prop = comp.get_next_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    sub = comp.get_first_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    while sub is not None:
        out.extend(lic_errors(sub))
        sub = comp.get_next_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    return out


def tzid_param(vevent: Any, kind: Any) -> str | None:
    prop = vevent.get_first_property(kind)
    if prop is None:
        return None
    param = prop.get_first_parameter(ICalGLib.ParameterKind.TZID_PARAMETER)
    return param.get_tzid() if param is not None else None


def fmt(t: Any, what: str, uid: str, tzid: str | None, vcal: Any) -> str:
    if t.is_null_time():
        fail(f"{uid}: no {what}", 2)
    if t.is_date():
        return f"{t.get_year():04d}-{t.get_month():02d}-{t.get_day():02d}"
    if not t.is_utc():
        zone = t.get_timezone()
        if tzid is None or zone is None:
            fail(f"{uid}: {what} is a floating time (no TZID, no Z): it has no UTC instant", 2)
        own = vcal.get_timezone(tzid)
        if own is None:
            fail(
                f"{uid}: {what} TZID={tzid} does not resolve to a VTIMEZONE "
                "of the file (libical would fall back to its built-in zones)",
                2,
            )
        if zone.get_tzid() != own.get_tzid() or zone.get_location() or zone.get_component() is None:
            fail(
                f"{uid}: {what} TZID={tzid}: libical attached zone "
                f"{zone.get_tzid()!r} (location {zone.get_location()!r}), "
                "not the file's VTIMEZONE",
                3,
            )
    u = t.convert_to_zone(ICalGLib.Timezone.get_utc_timezone())
    if not u.is_utc():
        fail(f"{uid}: {what}: libical did not convert to UTC", 3)
    return (
        f"{u.get_year():04d}-{u.get_month():02d}-{u.get_day():02d}"
        f"T{u.get_hour():02d}:{u.get_minute():02d}:{u.get_second():02d}Z"
    )


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        fail("usage: libical_read.py FILE.ics [FILE.ics ...]", 64)
    out = {path: read(path) for path in argv[1:]}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


def read(path: str) -> list[dict[str, Any]]:
    """The events of one file, sorted by uid."""
    global CURRENT
    CURRENT = path  # named in every failure
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = unfold_octets(raw).decode("utf-8")  # strict
    except (OSError, UnicodeDecodeError) as exc:
        fail(str(exc))

    ICalGLib.error_clear_errno()
    try:
        vcal = ICalGLib.Component.new_from_string(text)
    except TypeError:  # GI's "constructor returned NULL"
        vcal = None
    if vcal is None:
        err = ICalGLib.errno_return()
        fail(
            "libical could not parse the file (icalcomponent_new_from_string "
            f"returned NULL; errno: {ICalGLib.error_strerror(err)})"
        )
    if vcal.isa() != ICalGLib.ComponentKind.VCALENDAR_COMPONENT:
        fail(
            f"top-level component is {ICalGLib.Component.kind_to_string(vcal.isa())}, not VCALENDAR"
        )
    errors = lic_errors(vcal)
    if errors:
        fail("; ".join(errors))

    events: list[dict[str, Any]] = []
    ev = vcal.get_first_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
    while ev is not None:
        uid = ev.get_uid() or ""
        start_tzid = tzid_param(ev, ICalGLib.PropertyKind.DTSTART_PROPERTY)
        end_tzid = tzid_param(ev, ICalGLib.PropertyKind.DTEND_PROPERTY)
        if ev.get_first_property(ICalGLib.PropertyKind.DTEND_PROPERTY) is None:
            end_tzid = start_tzid  # end computed from DTSTART (+ DURATION)
        events.append(
            {
                "uid": uid,
                "summary": ev.get_summary() or "",
                "start": fmt(ev.get_dtstart(), "DTSTART", uid, start_tzid, vcal),
                "end": fmt(ev.get_dtend(), "DTEND", uid, end_tzid, vcal),
                "sequence": ev.get_sequence(),
                "status": prop_text(ev, ICalGLib.PropertyKind.STATUS_PROPERTY),
                "last_modified": utc_text(
                    prop_text(ev, ICalGLib.PropertyKind.LASTMODIFIED_PROPERTY)
                ),
                "alarms": alarms(ev, uid, start_tzid, vcal),
            }
        )
        ev = vcal.get_next_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)

    events.sort(key=lambda e: e["uid"])
    return events


def alarms(ev: Any, uid: str, tzid: str | None, vcal: Any) -> list[str]:
    """Each VALARM's moment as libical computes it: a DATE-TIME trigger as is, a duration
    added to DTSTART in DTSTART's own zone (i_cal_time_add)."""
    out: list[str] = []
    alarm = ev.get_first_component(ICalGLib.ComponentKind.VALARM_COMPONENT)
    while alarm is not None:
        trigger = alarm.get_first_property(ICalGLib.PropertyKind.TRIGGER_PROPERTY).get_trigger()
        if trigger.is_null_trigger() if hasattr(trigger, "is_null_trigger") else False:
            fail(f"{uid}: empty TRIGGER", 2)
        moment = trigger.get_time()
        if moment is None or moment.is_null_time():
            moment = ev.get_dtstart().add(trigger.get_duration())
            out.append(fmt(moment, "TRIGGER", uid, tzid, vcal))
        else:
            out.append(fmt(moment, "TRIGGER", uid, None, vcal))
        alarm = ev.get_next_component(ICalGLib.ComponentKind.VALARM_COMPONENT)
    return out


def prop_text(component: Any, kind: Any) -> str:
    """A property's value as libical writes it, or ""."""
    prop = component.get_first_property(kind)
    return prop.get_value_as_string() if prop is not None else ""


def utc_text(value: str) -> str:
    """`20221101T100000Z` -> `2022-11-01T10:00:00Z` (the shape the other readers print)."""
    if not value:
        return ""
    return f"{value[0:4]}-{value[4:6]}-{value[6:8]}T{value[9:11]}:{value[11:13]}:{value[13:15]}Z"


if __name__ == "__main__":
    main(sys.argv)
