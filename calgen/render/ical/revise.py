"""What subscribers see change: SEQUENCE, LAST-MODIFIED and cancellations across builds.

A new feed is compared, event by event (by UID), with the feed it replaces:
- an unchanged event is written exactly as it was published, SEQUENCE and LAST-MODIFIED
  included;
- a changed one gets SEQUENCE + 1 and LAST-MODIFIED = the build's moment;
- an event that is gone stays in the feed with STATUS:CANCELLED (SEQUENCE + 1), so
  subscribed clients drop it. It stays there on later builds too: a rebuild over its own
  output is then byte-identical, and a client that missed a poll still learns of it.
  Its SUMMARY then starts with "Vervallen: " and its DESCRIPTION with since which version
  of its runbook (or why it left this feed): calcurse and some Outlook versions ignore
  STATUS and would show it as an ordinary appointment.

"Changed" means any property other than DTSTAMP, SEQUENCE and LAST-MODIFIED differs. The
build's moment is passed in (the CLI takes it from SOURCE_DATE_EPOCH or the clock); it
is only ever written into events that really changed. Revised events are written by
calgen.render.ical.lines, like every other event.

The published feed is read here, not with icalendar: an unchanged or kept event must be
written back byte for byte, which needs each event's published bytes (icalendar gives
parsed values, not them), and icalendar parses a 2.4 MB feed of 2,000 events in 2.7 s
where this splitter takes 0.13 s (a rebuild reads every published feed). The splitter is
strict about what calgen wrote: an event without a UID, a SEQUENCE that is not a number
calgen wrote, bytes that are not UTF-8 raise, and the build then names the file and
treats it as absent (calgen.site.outputs).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from calgen.core import dutch, layout
from calgen.render.ical.lines import component, escape, fold, utc
from calgen.runbook.model import Runbook

CANCELLED = "Vervallen: "  # the start of a cancelled event's SUMMARY

_BOOKKEEPING = ("DTSTAMP", "SEQUENCE", "LAST-MODIFIED")
_EVENT = re.compile(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", re.S)


@dataclass(frozen=True, kw_only=True)
class _Published:
    raw: bytes
    sequence: int
    content: frozenset[str]
    cancelled: bool


def _unfold(raw: bytes) -> list[str]:
    return raw.replace(b"\r\n ", b"").replace(b"\r\n\t", b"").decode("utf-8").split("\r\n")


def _uid(lines: list[str]) -> str:
    return next((line[4:] for line in lines if line.startswith("UID:")), "")


def _content(lines: list[str]) -> frozenset[str]:
    return frozenset(
        line
        for line in lines
        if line and line.split(";", 1)[0].split(":", 1)[0] not in _BOOKKEEPING
    )


def _events(feed: bytes) -> dict[str, _Published]:
    out = {}
    for match in _EVENT.finditer(feed):
        raw = match.group(0)
        lines = _unfold(raw)
        found = next((x[9:] for x in lines if x.startswith("SEQUENCE:")), "0")
        if not (found.isascii() and found.isdigit() and len(found) <= 9):
            # not what calgen writes: the caller (calgen.site.publish) names the file and
            # builds as if it were absent, so the damaged line is not carried forward
            raise ValueError(f"SEQUENCE {found[:20]!r} is not a number calgen wrote")
        sequence = int(found)
        out[_uid(lines)] = _Published(
            raw=raw,
            sequence=sequence,
            content=_content(lines),
            cancelled="STATUS:CANCELLED" in lines,
        )
    return out


# icalendar's property order, which calgen.render.ical.lines writes every event in: these
# first, in this order, then the rest alphabetically (calgen.render.ical.feeds._vevent).
_CANONICAL = (
    "SUMMARY",
    "DTSTART",
    "DTEND",
    "DURATION",
    "DTSTAMP",
    "UID",
    "RECURRENCE-ID",
    "SEQUENCE",
    "RRULE",
    "RDATE",
    "EXDATE",
)


def _name(line: str) -> str:
    return line.split(";", 1)[0].split(":", 1)[0].upper()


def _order(line: str) -> tuple[int, str]:
    name = _name(line)
    if name in _CANONICAL:
        return (_CANONICAL.index(name), "")
    return (len(_CANONICAL), name)


def editions(runbooks: Iterable[Runbook]) -> dict[str, str]:
    """Each runbook's edition as a cancelled event names it, by runbook id: the newest row
    of its version table, `versie 1.1 (1 december 2021)` (`concept 1.2 (…)` for a
    concept); else its date, `de versie van 23 november 2021`; else ""."""
    out = {}
    for rb in runbooks:
        current = rb.current
        if current is not None:
            kind = "versie" if current.is_final else "concept"
            out[rb.id] = f"{kind} {current.version} ({dutch.date_plain(current.date)})"
        else:
            out[rb.id] = f"de versie van {dutch.date_plain(rb.date)}" if rb.date else ""
    return out


def _owner(uid: str, runbook_ids: Iterable[str]) -> str | None:
    """The runbook an event's UID belongs to (the longest id that fits), or None."""
    found = [rb for rb in runbook_ids if layout.uid_belongs_to(uid, rb)]
    return max(found, key=len) if found else None


def _why_cancelled(uid: str, editions: Mapping[str, str], carried: set[str | None]) -> str:
    """The sentence a cancelled event's DESCRIPTION starts with. `carried`: the runbooks
    whose events this feed still has."""
    owner = _owner(uid, editions)
    if owner is None or owner not in carried:  # a durable feed the runbook has left
        return (
            "Vervallen in deze agenda: het draaiboek waar dit uit kwam, staat er niet meer "
            "in (deze agenda houdt alleen de nieuwste draaiboeken bij)."
        )
    since = f" sinds {editions[owner]} van het draaiboek" if editions[owner] else ""
    return f"Vervallen{since}: dit staat niet meer in deze agenda."


def _cancelled(own: list[str], why: str) -> list[str]:
    """The event's own properties with SUMMARY starting "Vervallen: " and DESCRIPTION
    with `why` (once: a cancelled event revised again keeps them as they are)."""
    out, described = [], False
    for line in own:
        name = _name(line)
        key, _, value = line.partition(":")
        if name == "SUMMARY" and not value.startswith(CANCELLED):
            line = f"{key}:{escape(CANCELLED)}{value}"
        elif name == "DESCRIPTION":
            described = True
            if not value.startswith(escape(why)):
                line = f"{key}:{escape(why + chr(10) + chr(10))}{value}"
        out.append(line)
    return out if described else [*out, f"DESCRIPTION:{escape(why)}"]


def _bump(raw: bytes, sequence: int, now: dt.datetime, cancelled: str = "") -> bytes:
    """The published event `raw` with a new SEQUENCE and LAST-MODIFIED, written by
    calgen.render.ical.lines like every other event; `cancelled` (a sentence: why):
    STATUS:CANCELLED and a SUMMARY and DESCRIPTION that say so. Nested components (VALARM)
    are kept as they are; only the event's own properties are touched."""
    logical = _unfold(raw)[1:-2]  # without BEGIN:VEVENT, END:VEVENT and the final ""
    own: list[str] = []
    inner: list[str] = []
    depth = 0
    for line in logical:
        if line.startswith("BEGIN:"):
            depth += 1
        if depth:
            inner.append(line)
        else:
            own.append(line)
        if line.startswith("END:"):
            depth -= 1
    replaced = {"SEQUENCE", "LAST-MODIFIED"} | ({"STATUS"} if cancelled else set())
    kept = [line for line in own if _name(line) not in replaced]
    added = [f"SEQUENCE:{sequence}", f"LAST-MODIFIED:{utc(now)}"]
    if cancelled:
        kept = _cancelled(kept, cancelled)
        added.append("STATUS:CANCELLED")
    properties = sorted(kept + added, key=_order)  # stable: repeated names keep their order
    return component(
        "VEVENT",
        [(key, value) for key, _, value in (line.partition(":") for line in properties)],
        [fold(line) for line in inner],
    )


def uids(feed: bytes) -> list[str]:
    """The UIDs of a published feed's events, as written."""
    return list(_events(feed))


def revise(
    feed: bytes,
    previous: bytes | None,
    now: dt.datetime,
    editions: Mapping[str, str] | None = None,
) -> bytes:
    """`feed` as it must be published over `previous` (None: first publication): events
    in the order of `feed`, then those of `previous` that `feed` lacks, cancelled.
    `editions` (see `editions`): the runbooks of this build, whose edition a cancelled
    event names."""
    if not previous:
        return feed
    before = _events(previous)
    head_end = feed.find(b"BEGIN:VEVENT\r\n")
    if head_end < 0:
        head_end = feed.rfind(b"END:VCALENDAR\r\n")
    body: list[bytes] = []
    seen = set()
    for match in _EVENT.finditer(feed):
        raw = match.group(0)
        lines = _unfold(raw)
        uid = _uid(lines)
        seen.add(uid)
        old = before.get(uid)
        if old is None:
            body.append(raw)
        elif old.content == _content(lines):
            body.append(old.raw)
        else:
            body.append(_bump(raw, old.sequence + 1, now))
    known = editions or {}
    carried: set[str | None] | None = None  # made only when something is cancelled
    for uid, old in before.items():
        if uid in seen:
            continue
        if old.cancelled:
            body.append(old.raw)
            continue
        if carried is None:
            carried = {_owner(u, known) for u in seen}
        why = _why_cancelled(uid, known, carried)
        body.append(_bump(old.raw, old.sequence + 1, now, why))
    return feed[:head_end] + b"".join(body) + b"END:VCALENDAR\r\n"
