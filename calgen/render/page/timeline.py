"""Geometry of the timeline drawn on the runbook page (the SVG itself is a template).

Phases are bands; each role has a lane with its deadlines as markers and its periods as
bars; go-live, the DST change and Dutch holidays in the window are marked. Everything is
computed here in plain numbers so the template only places shapes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

from calgen.core import dutch, schedule
from calgen.runbook.model import Phase, Runbook

WIDTH = 960
LEFT = 150  # room for lane names
RIGHT = 20
TOP = 56  # month and day labels, then phase bands
BAND = 26
LANE = 34


@dataclass(frozen=True, kw_only=True)
class Day:
    x: float
    width: float
    label: str  # day of month
    month: str  # month name on the first day shown and on each 1st, else ""
    weekend: bool
    holiday: str  # Dutch name, or ""


@dataclass(frozen=True, kw_only=True)
class Band:
    x: float
    width: float
    label: str  # what fits in the band
    css: str
    title: str  # the whole name, for tooltips and screen readers


@dataclass(frozen=True, kw_only=True)
class Marker:
    """A milestone's mark, at height 0 of its lane (a lane is drawn translated)."""

    x: float
    width: float  # 0 for a deadline
    id: str
    title: str  # what a tooltip or screen reader says
    early: bool = False  # before the window: drawn at its left edge


@dataclass(frozen=True, kw_only=True)
class Lane:
    y: float
    name: str
    markers: tuple[Marker, ...]
    shift: float = 0  # drawn this much lower (a role's view moves its lane up)


@dataclass(frozen=True, kw_only=True)
class Line:
    x: float
    label: str


@dataclass(frozen=True, kw_only=True)
class Timeline:
    width: int
    height: int
    left: int
    top: int
    band_height: int
    days: tuple[Day, ...]
    bands: tuple[Band, ...]
    lanes: tuple[Lane, ...]
    go_live: Line
    dst: tuple[Line, ...]
    description: str


def build_timeline(runbook: Runbook, role: str | None = None) -> Timeline:
    milestones = [m for m in runbook.milestones if role is None or role in m.audience]
    # The window is the migration itself; a milestone far before it (3.3.1 of 2022, a
    # month early) is drawn at the left edge, marked as earlier, instead of squeezing
    # the weeks that matter.
    first = runbook.phases[0].start - dt.timedelta(days=1)
    start = dt.datetime.combine(first.date(), dt.time(0), tzinfo=schedule.AMSTERDAM)
    last_day = (runbook.go_live + dt.timedelta(days=2)).date()
    end = dt.datetime.combine(last_day, dt.time(0), tzinfo=schedule.AMSTERDAM)

    first_ts, last_ts = start.timestamp(), end.timestamp()
    scale = (WIDTH - LEFT - RIGHT) / (last_ts - first_ts)  # real time: a DST day is 23 h

    def x(moment: dt.datetime) -> float:
        # in POSIX seconds: comparing and subtracting aware datetimes is slow, and a
        # large runbook places tens of thousands of markers
        seconds = min(max(moment.timestamp(), first_ts), last_ts)
        return round(LEFT + (seconds - first_ts) * scale, 1)

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=schedule.AMSTERDAM)

    dates = [start.date() + dt.timedelta(days=n) for n in range((last_day - start.date()).days)]
    days = tuple(
        Day(
            x=x(midnight(day)),
            width=round(x(midnight(day + dt.timedelta(days=1))) - x(midnight(day)), 1),
            label=str(day.day),
            month=dutch.month_name(day) if day.day == 1 or n == 0 else "",
            weekend=day.weekday() >= 5,
            holiday=runbook.calendar.holidays.name(day) or "",
        )
        for n, day in enumerate(dates)
    )

    def band(p: Phase) -> Band:
        width = round(x(p.end) - x(p.start), 1)
        title = f"Fase {p.number}: {p.title}"
        fits = len(title) * 6 <= width  # about 6 px a character at 11 px
        return Band(
            x=x(p.start),
            width=width,
            label=title if fits else f"Fase {p.number}",
            css=p.id,
            title=title,
        )

    bands = tuple(band(p) for p in runbook.phases)
    roles = [r for r in runbook.roles if role is None or r.id == role]
    # one mark per milestone, shared by every lane that carries it
    marks = {
        m.id: Marker(
            x=x(m.start),
            width=round(x(m.end) - x(m.start), 1) if m.end else 0,
            id=m.id,
            title=f"{m.id} {m.title}: {dutch.when(m.start, m.end)}"
            + (f" ({m.time_label})" if m.time_label else "")
            + (" (eerder dan de tijdlijn)" if m.start < start else ""),
            early=m.start < start,
        )
        for m in milestones
    }
    lanes = []
    for i, r in enumerate(roles):
        y = TOP + BAND + 12 + i * LANE
        markers = tuple(marks[m.id] for m in milestones if r.id in m.audience)
        lanes.append(Lane(y=y, name=r.name, markers=markers))
    dst = []
    for day in dates:
        before, after = midnight(day).utcoffset(), midnight(day).replace(hour=4).utcoffset()
        if before != after:
            label = (
                "zomertijd"
                if (after or dt.timedelta()) > (before or dt.timedelta())
                else "wintertijd"
            )
            dst.append(
                Line(x=x(midnight(day).replace(hour=2)), label=f"{label} ({dutch.date_long(day)})")
            )
    height = TOP + BAND + 12 + len(lanes) * LANE + 10
    go_live = Line(x=x(runbook.go_live), label=f"live {dutch.when(runbook.go_live)}")
    holidays = [(day, name) for day in dates if (name := runbook.calendar.holidays.name(day))]
    description = " ".join(
        [
            f"Tijdlijn van {dutch.date_long(start.date())} tot {dutch.date_long(last_day)}:",
            "; ".join(b.title for b in bands) + ".",
            f"{len(milestones)} mijlpalen op {len(lanes)} rol(len).",
            f"Go-live {dutch.when(runbook.go_live)}.",
            *(f"Overgang naar {line.label}." for line in dst),
            *(f"{name}: {dutch.date_long(day)}." for day, name in holidays),
        ]
    )
    return Timeline(
        width=WIDTH,
        height=height,
        left=LEFT,
        top=TOP,
        band_height=BAND,
        days=days,
        bands=bands,
        lanes=tuple(lanes),
        go_live=go_live,
        dst=tuple(dst),
        description=description,
    )


def select_lane(whole: Timeline, runbook: Runbook, role_name: str) -> Timeline:
    """A role's view of the timeline: the same window, only that role's lane, moved to
    the first row (markers keep their coordinates: the lane is drawn once, translated)."""
    lanes = tuple(
        replace(lane, shift=TOP + BAND + 12 - lane.y)
        for lane in whole.lanes
        if lane.name == role_name
    )
    count = len({m.id for lane in lanes for m in lane.markers})
    description = re.sub(
        r"\d+ mijlpalen op \d+ rol\(len\)",
        f"{count} mijlpalen op {len(lanes)} rol(len)",
        whole.description,
    )
    return replace(
        whole,
        lanes=lanes,
        height=TOP + BAND + 12 + len(lanes) * LANE + 10,
        description=description,
    )
