"""Re-plan a runbook for a new release: `calgen new-release`.

Every absolute time is moved so that it keeps its distance to go-live in *working days*
and its time of day; a time written on a non-working day (2018's Sunday 3.1.1) hangs off
the last working day before it and keeps its calendar-day offset from that day. Relative
times are left as written: they resolve against the new go-live by themselves. Version
numbers in the id and in the text are replaced, and dates written in the text that are
dates of the schedule are rewritten; the YAML is edited round-trip (ruamel.yaml), so
comments, key order, quoting and block scalars stay as they were.

This module is pure: text in, text and a plan out. The CLI reads and writes the files.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from babel.dates import get_month_names
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from calgen import schedule
from calgen.errors import CalgenError
from calgen.model import Runbook
from calgen.render import dutch

TIME_KEYS = ("at", "start", "end")
TEXT_KEYS = ("title", "description", "text", "summary", "time_label", "note", "notes")
MONTHS = [str(get_month_names("wide", locale=dutch.LOCALE)[n]) for n in range(1, 13)]


class ReleaseError(CalgenError, ValueError):
    """A re-plan that cannot be done (go-live on a non-working day, a DST conflict...)."""


@dataclass(frozen=True)
class Move:
    what: str  # "3.1.2", "fase afsluiting (start)", "go_live"
    old: dt.datetime
    new: dt.datetime
    rule: str  # how it was moved, in words


@dataclass
class Plan:
    text: str  # the new runbook YAML
    moves: list[Move] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never re-wrap a runbook's lines
    return yaml


def _same_style(old: Any, new: str) -> Any:
    """A new string value written the way the old one was (quoted, block, plain)."""
    for kind in (
        LiteralScalarString,
        FoldedScalarString,
        DoubleQuotedScalarString,
        SingleQuotedScalarString,
    ):
        if isinstance(old, kind):
            return kind(new)
    return new


def check_go_live(go_live: dt.datetime, calendar: schedule.WorkCalendar) -> None:
    reason = calendar.non_working_reason(go_live.date())
    if reason is None:
        return
    weekday = schedule.WEEKDAYS_NL[go_live.weekday()]
    suggestion = calendar.next_working(go_live.date())
    because = weekday if reason == weekday else f"{weekday}, {reason}"
    raise ReleaseError(
        f"go-live {go_live:%Y-%m-%d} is not a working day ({because}); "
        f"the next working day is {dutch.date_long(suggestion)} ({suggestion.isoformat()})"
    )


def _version_pattern(old_from: str, old_to: str) -> re.Pattern[str]:
    # A release number on its own: not part of "3.1.2" and not a section ("paragraaf 3.1").
    versions = "|".join(re.escape(v) for v in sorted({old_from, old_to}, key=len, reverse=True))
    return re.compile(rf"(?<![\d.])(?<!paragraaf )(?<!hoofdstuk )({versions})(?!\.?\d)")


def replan(
    source_text: str,
    runbook: Runbook,
    *,
    go_live: dt.datetime,
    new_from: str,
    new_to: str,
    new_id: str | None,
    today: dt.date,
    uses: list[str] | None = None,
) -> Plan:
    """The source runbook re-planned onto `go_live`, as YAML text."""
    calendar = runbook.calendar
    check_go_live(go_live, calendar)
    old_live = runbook.go_live
    data = _yaml().load(source_text)
    plan = Plan(text="")

    def move(day: dt.date) -> tuple[dt.date, str]:
        """The new date of an old one, and the rule used."""
        if calendar.is_working(day):
            n = calendar.distance(old_live.date(), day)
            return calendar.shift(go_live.date(), n), f"{n:+d} werkdagen t.o.v. go-live"
        base = day
        while not calendar.is_working(base):
            base -= dt.timedelta(days=1)
        n = calendar.distance(old_live.date(), base)
        offset = (day - base).days
        new = calendar.shift(go_live.date(), n) + dt.timedelta(days=offset)
        if new.weekday() != day.weekday():
            plan.warnings.append(
                f"{day.isoformat()} ({schedule.WEEKDAYS_NL[day.weekday()]}, not a working day)"
                f" moved to {new.isoformat()} ({schedule.WEEKDAYS_NL[new.weekday()]}): "
                "a different weekday, check it"
            )
        return new, f"{n:+d} werkdagen +{offset} dag(en) (niet-werkdag in bron)"

    date_map: dict[dt.date, dt.date] = {old_live.date(): go_live.date()}

    def replan_time(container: Any, key: str | int, what: str) -> None:
        value = container[key]
        if not isinstance(value, str) or schedule.parse_relative(value) is not None:
            return  # relative: resolves against the new go-live by itself
        old = schedule.parse_local(value)
        new_day, rule = move(old.date())
        try:
            new = schedule.local(dt.datetime.combine(new_day, old.time()))
        except schedule.TimeProblem as exc:
            raise ReleaseError(f"{what}: {exc}") from None
        date_map[old.date()] = new_day
        container[key] = _same_style(value, f"{new:%Y-%m-%d %H:%M}")
        plan.moves.append(Move(what, old, new, rule))

    data["go_live"] = _same_style(data["go_live"], f"{go_live:%Y-%m-%d %H:%M}")
    plan.moves.append(Move("go-live", old_live, go_live, "nieuwe go-live"))
    for phase in data.get("phases", []):
        for key in ("start", "end"):
            replan_time(phase, key, f"fase {phase['id']} ({key})")
    for milestone in data.get("milestones", []):
        for key in TIME_KEYS:
            if key in milestone:
                replan_time(
                    milestone, key, f"{milestone['id']}" + ("" if key == "at" else f" ({key})")
                )
    for event in data.get("events", []):
        for key in TIME_KEYS:
            if key in event:
                replan_time(event, key, f"{event['id']}" + ("" if key == "at" else f" ({key})"))
        if "date" in event:
            old_day = schedule.parse_date(event["date"])
            new_day, rule = move(old_day)
            date_map[old_day] = new_day
            event["date"] = new_day
            midnight = dt.time(0, tzinfo=schedule.AMSTERDAM)
            plan.moves.append(
                Move(
                    event["id"],
                    dt.datetime.combine(old_day, midnight),
                    dt.datetime.combine(new_day, midnight),
                    rule,
                )
            )
    if data.get("working_days", {}).get("closures"):
        plan.warnings.append(
            "working_days.closures are kept as they were: closures of the source year are "
            "probably not closures of the new one"
        )

    # Release numbers, id and version table.
    old_from, old_to = runbook.release_from, runbook.release_to
    if not (old_from and old_to):
        raise ReleaseError("the source runbook has no `release: {from, to}` to replace")
    pattern = _version_pattern(old_from, old_to)
    mapping = {old_from: new_from, old_to: new_to}
    data["release"]["from"] = _same_style(data["release"]["from"], new_from)
    data["release"]["to"] = _same_style(data["release"]["to"], new_to)
    data["id"] = new_id or pattern.sub(lambda m: mapping[m.group(1)], runbook.id)
    if data["id"] == runbook.id:
        raise ReleaseError(f"the new runbook would keep the id '{runbook.id}': pass --id")
    data["date"] = today
    # a new document: its version table starts again at a concept
    row = CommentedMap(
        version=DoubleQuotedScalarString("0.1"),
        date=dt.date.fromordinal(today.toordinal()),  # its own object: no YAML anchor
        note="Concept",
    )
    old_rows = data.get("versions") or []
    if old_rows and getattr(old_rows[0], "fa", None) and old_rows[0].fa.flow_style():
        row.fa.set_flow_style()
    if "versions" in data:
        data["versions"].clear()
        data["versions"].append(row)
    else:
        data["versions"] = CommentedSeq([row])
    if uses is not None:
        data["uses"] = uses

    unknown_dates: list[str] = []
    for path, container, key, text in _texts(data):
        replaced = pattern.sub(lambda m: mapping[m.group(1)], text)
        others = sorted(set(_OTHER_RELEASE.findall(text)) - {old_from, old_to})
        if replaced != text and others:
            plan.warnings.append(
                f"{path}: mentions other releases ({', '.join(others)}) next to the replaced "
                "ones: check the sentence still says what it should"
            )
        replaced = _rewrite_dates(replaced, date_map, runbook.go_live.year, unknown_dates, path)
        if replaced != text:
            container[key] = _same_style(text, replaced)
    for note in unknown_dates:
        plan.warnings.append(note)

    out = io.StringIO()
    _yaml().dump(data, out)
    plan.text = out.getvalue()
    return plan


def _texts(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any, str]]:
    """Every prose string of the runbook: (path, container, key, text)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in TEXT_KEYS and isinstance(value, str):
                yield here, node, key, value
            elif key in TEXT_KEYS and isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, str):
                        yield f"{here}[{i}]", value, i, item
            else:
                yield from _texts(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _texts(item, f"{path}[{i}]")


_OTHER_RELEASE = re.compile(r"(?:(?<=iWmo )|(?<=iJw )|(?<=versie ))(\d+\.\d+)(?![.\d])")
_WEEKDAY = "|".join(schedule.WEEKDAYS_NL)
_DATE_PHRASE = re.compile(
    rf"\b(?:(?P<weekday>{_WEEKDAY}) )?(?P<day>\d{{1,2}}) (?P<month>{'|'.join(MONTHS)})"
    rf"(?: (?P<year>\d{{4}}))?\b",
    re.IGNORECASE,
)


def _rewrite_dates(
    text: str, date_map: dict[dt.date, dt.date], year: int, unknown: list[str], path: str
) -> str:
    """Rewrite `woensdag 30 maart 2022` (weekday and year optional) when it is a date of the
    schedule; note the dates that are not, for a human to look at."""

    def replace(match: re.Match[str]) -> str:
        month = MONTHS.index(match["month"].lower()) + 1
        try:
            old = dt.date(int(match["year"] or year), month, int(match["day"]))
        except ValueError:
            return match.group(0)
        new = date_map.get(old)
        if new is None:
            unknown.append(f"{path}: '{match.group(0)}' is not a date of the schedule: check it")
            return match.group(0)
        words = []
        if match["weekday"]:
            weekday = schedule.WEEKDAYS_NL[new.weekday()]
            words.append(weekday.capitalize() if match["weekday"][0].isupper() else weekday)
        words += [str(new.day), MONTHS[new.month - 1]]
        if match["year"]:
            words.append(str(new.year))
        return " ".join(words)

    return _DATE_PHRASE.sub(replace, text)


def plan_table(plan: Plan) -> str:
    """The new plan for people: what, old date, new date, weekday."""
    rows = [("wat", "oud", "nieuw", "weekdag", "regel")]
    for m in plan.moves:
        rows.append(
            (
                m.what,
                f"{m.old:%Y-%m-%d %H:%M}",
                f"{m.new:%Y-%m-%d %H:%M}",
                schedule.WEEKDAYS_NL[m.new.weekday()],
                m.rule,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
