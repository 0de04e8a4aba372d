"""Geometry of the timeline drawn on the runbook page (the SVG itself is a template).

Phases are bands; each role has a lane with its deadlines as markers and its periods as
bars; go-live, the DST change and Dutch holidays in the window are marked. Everything is
computed here in plain numbers so the template only places shapes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from calgen.core import dutch, schedule
from calgen.runbook.model import Milestone, Phase, Role, Runbook

WIDTH = 960
LEFT = 150  # room for lane names
RIGHT = 20
TOP = 56  # month and day labels, then phase bands
BAND = 26
LANE = 22  # a lane's height without its labels (the marks are 12 high)
LABEL_ROW = 13  # each row of labels under a lane's marks (11 px text is 13 high)
LABEL_ROWS = 5  # at most; a mark without room for its label is counted instead


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
class Label:
    """A mark's number under it, so a lane reads without hovering (relative to the lane)."""

    x: float  # its middle: the deadline, or the middle of the period
    y: float
    text: str


@dataclass(frozen=True, kw_only=True)
class Lane:
    y: float
    name: str
    markers: tuple[Marker, ...]
    shift: float = 0  # drawn this much lower (a role's view moves its lane up)
    labels: tuple[Label, ...] = ()
    unlabelled: int = 0  # marks left without a label for want of room
    height: float = LANE + LABEL_ROW  # down to the next lane


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
    window: tuple[str, str] = ("", "")  # the instants at its left and right edge (ISO 8601)


def build_timeline(runbook: Runbook, role: str | None = None) -> Timeline:
    """The timeline of the whole runbook, or only of the milestones and lane of `role`."""
    milestones = [m for m in runbook.milestones if role is None or role in m.audience]
    window = _Window.of(runbook)
    x = window.placer()
    bands = tuple(_band(p, x) for p in runbook.phases)
    roles = [r for r in runbook.roles if role is None or r.id == role]
    lanes = _lanes(roles, milestones, _marks(milestones, x, window.start))
    dst = _dst_lines(window.dates, x)
    return Timeline(
        width=WIDTH,
        height=_height(lanes),
        left=LEFT,
        top=TOP,
        band_height=BAND,
        days=_days(window.dates, x, runbook.calendar.holidays),
        bands=bands,
        lanes=lanes,
        go_live=Line(x=x(runbook.go_live), label=f"live {dutch.when(runbook.go_live)}"),
        dst=dst,
        description=_description(runbook, window, bands, dst, len(milestones), len(lanes)),
        window=(
            window.start.isoformat(timespec="minutes"),
            _midnight(window.last_day).isoformat(timespec="minutes"),
        ),
    )


_FIRST_LANE = TOP + BAND + 12  # the y of the first lane


def _height(lanes: tuple[Lane, ...]) -> int:
    return round(_FIRST_LANE + sum(lane.height for lane in lanes) - LANE / 2 + 10)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=schedule.AMSTERDAM)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Window:
    """The days drawn: the migration itself, from the day before its first phase to the
    day after go-live. A milestone far before it (3.3.1 of 2022, a month early) is drawn
    at the left edge, marked as earlier, instead of squeezing the weeks that matter."""

    start: dt.datetime  # midnight of the first day drawn
    last_day: dt.date  # the day after the last day drawn

    @classmethod
    def of(cls, runbook: Runbook) -> _Window:
        first = runbook.phases[0].start - dt.timedelta(days=1)
        last_day = (runbook.go_live + dt.timedelta(days=2)).date()
        return cls(start=_midnight(first.date()), last_day=last_day)

    @property
    def dates(self) -> list[dt.date]:
        first = self.start.date()
        return [first + dt.timedelta(days=n) for n in range((self.last_day - first).days)]

    def placer(self) -> Callable[[dt.datetime], float]:
        """The x of a moment, in real time (a DST day is 23 h); moments outside the
        window are drawn at its edge."""
        first_ts, last_ts = self.start.timestamp(), _midnight(self.last_day).timestamp()
        scale = (WIDTH - LEFT - RIGHT) / (last_ts - first_ts)

        def x(moment: dt.datetime) -> float:
            # in POSIX seconds: comparing and subtracting aware datetimes is slow, and a
            # large runbook places tens of thousands of markers
            seconds = min(max(moment.timestamp(), first_ts), last_ts)
            return round(LEFT + (seconds - first_ts) * scale, 1)

        return x


def _days(
    dates: list[dt.date], x: Callable[[dt.datetime], float], holidays: schedule.HolidayTable
) -> tuple[Day, ...]:
    """The day columns, with the month named on the first day shown and on each 1st."""
    return tuple(
        Day(
            x=x(_midnight(day)),
            width=round(x(_midnight(day + dt.timedelta(days=1))) - x(_midnight(day)), 1),
            label=str(day.day),
            month=dutch.month_name(day) if day.day == 1 or n == 0 else "",
            weekend=day.weekday() >= 5,
            holiday=holidays.name(day) or "",
        )
        for n, day in enumerate(dates)
    )


def _band(p: Phase, x: Callable[[dt.datetime], float]) -> Band:
    """A phase's band, labelled with its whole name only where that fits; its tooltip
    says when an end is derived (the runbooks give phase 3 none)."""
    width = round(x(p.end) - x(p.start), 1)
    name = f"Fase {p.number}: {p.title}"
    fits = len(name) * 6 <= width  # about 6 px a character at 11 px
    note = p.end_note.strip().rstrip(".")
    if note:  # within a sentence (the <desc> joins the bands' titles)
        name_or_note = f"{name} (einde afgeleid: {note[0].lower()}{note[1:]})"
    return Band(
        x=x(p.start),
        width=width,
        label=name if fits else f"Fase {p.number}",
        css=p.id,
        title=name_or_note if note else name,
    )


def _marks(
    milestones: list[Milestone], x: Callable[[dt.datetime], float], start: dt.datetime
) -> dict[str, Marker]:
    """One mark per milestone, shared by every lane that carries it."""
    return {
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


def _lanes(
    roles: list[Role], milestones: list[Milestone], marks: dict[str, Marker]
) -> tuple[Lane, ...]:
    """One lane per role, each as high as its rows of labels need."""
    out = []
    y: float = _FIRST_LANE
    for r in roles:
        markers = tuple(marks[m.id] for m in milestones if r.id in m.audience)
        labels, rows, unlabelled = _labels(markers)
        height = LANE + max(rows, 1) * LABEL_ROW
        out.append(
            Lane(
                y=y,
                name=r.name,
                markers=markers,
                labels=labels,
                unlabelled=unlabelled,
                height=height,
            )
        )
        y += height
    return tuple(out)


def _labels(markers: tuple[Marker, ...]) -> tuple[tuple[Label, ...], int, int]:
    """Each mark's number under it, in rows: a label goes into the first row where it
    does not touch the label before it (marks at the same moment stack). Returns the
    labels, the rows used and how many marks found no room in `LABEL_ROWS` rows."""
    ends: list[float] = []  # the right end of the last label in each row
    labels = []
    unlabelled = 0
    middle = {m.id: m.x + m.width / 2 for m in markers}
    for m in sorted(markers, key=lambda m: middle[m.id]):  # stable: ties keep their order
        half = len(m.id) * 3.2 + 3  # about 6.4 px a character at 11 px, and a gap
        left = middle[m.id] - half
        row = next((i for i, end in enumerate(ends) if end <= left), len(ends))
        if row == LABEL_ROWS:
            unlabelled += 1
            continue
        if row == len(ends):
            ends.append(0)
        ends[row] = middle[m.id] + half
        labels.append(Label(x=round(middle[m.id], 1), y=18 + row * LABEL_ROW, text=m.id))
    return tuple(labels), len(ends), unlabelled


def _dst_lines(dates: list[dt.date], x: Callable[[dt.datetime], float]) -> tuple[Line, ...]:
    """A line at 02:00 of each day the clocks change."""
    lines = []
    for day in dates:
        before, after = _midnight(day).utcoffset(), _midnight(day).replace(hour=4).utcoffset()
        if before != after:
            label = (
                "zomertijd"
                if (after or dt.timedelta()) > (before or dt.timedelta())
                else "wintertijd"
            )
            lines.append(
                Line(x=x(_midnight(day).replace(hour=2)), label=f"{label} ({dutch.date_long(day)})")
            )
    return tuple(lines)


def _description(
    runbook: Runbook,
    window: _Window,
    bands: tuple[Band, ...],
    dst: tuple[Line, ...],
    milestones: int,
    lanes: int,
) -> str:
    """The timeline in words, for screen readers."""
    table = runbook.calendar.holidays
    holidays = [(day, name) for day in window.dates if (name := table.name(day))]
    first, last = dutch.date_long(window.start.date()), dutch.date_long(window.last_day)
    return " ".join(
        [
            f"Tijdlijn van {first} tot {last}:",
            "; ".join(b.title for b in bands) + ".",
            f"{milestones} mijlpalen op {lanes} rol(len).",
            f"Go-live {dutch.when(runbook.go_live)}.",
            *(f"Overgang naar {line.label}." for line in dst),
            *(f"{name}: {dutch.date_long(day)}." for day, name in holidays),
        ]
    )


def select_lane(whole: Timeline, runbook: Runbook, role_name: str) -> Timeline:
    """A role's view of the timeline: the same window, only that role's lane, moved to
    the first row (markers keep their coordinates: the lane is drawn once, translated)."""
    lanes = tuple(
        replace(lane, shift=_FIRST_LANE - lane.y) for lane in whole.lanes if lane.name == role_name
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
        height=_height(lanes),
        description=description,
    )
