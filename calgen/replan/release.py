"""Re-plan a runbook for a new release: `calgen new-release`.

Every absolute time is moved so that it keeps its distance to go-live and its time of
day. The distance is counted in *working days* unless the item (phase, milestone or
dated fact) says `distance: calendar days` (phase 3's "eerste vier weken" of aftercare:
four weeks are four weeks, across Easter and King's Day alike). A time written on a
non-working day (2018's Sunday 3.1.1) hangs off the last working day before it and keeps
its calendar-day offset from that day. Relative times are left as written: they resolve
against the new go-live by themselves.

Text is rewritten only where it states the migration being re-planned: the release
pair ("3.0 naar 3.1" becomes "3.1 naar 3.2", "iWmo 3.0 en iJw 3.0 naar iWmo 3.1" becomes
"iWmo 3.1 en iJw 3.1 naar iWmo 3.2") and other mentions of those two releases, and dates
of the schedule itself. A sentence that names another release (an earlier pair, "iWmo
2.4 en iJw 2.4 naar iWmo 3.0") or a date outside the schedule ("sinds 1 januari 2021")
is kept as written, every word of it, and reported with file:line and the sentence
(`Plan.kept`): the CLI refuses to write unless `--accept-warnings`. Comments inside an
item whose dates moved, or on the line of a moved date, were written about the old
schedule: the written file flags each with a `# CHECK (calgen new-release): ...` line.
The YAML is edited round-trip (ruamel.yaml), so comments, key order, quoting and block
scalars stay as they were.

`replan` is pure: text in, text and a plan out; `write` writes the plan's file once it
validates, atomically (calgen.core.fsutil).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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

from calgen.core import dutch, fsutil, schedule
from calgen.core.errors import CalgenError
from calgen.runbook.model import Runbook
from calgen.runbook.schema import CONCEPT, DISTANCES

TIME_KEYS = ("at", "start", "end")
TEXT_KEYS = ("title", "description", "text", "summary", "time_label", "note", "notes")
MONTHS = [str(get_month_names("wide", locale=dutch.LOCALE)[n]) for n in range(1, 13)]
CHECK = "# CHECK (calgen new-release):"


class ReleaseError(CalgenError, ValueError):
    """A re-plan that cannot be done (go-live on a non-working day, a DST conflict...)."""


@dataclass(frozen=True, kw_only=True)
class Move:
    what: str  # "3.1.2", "fase afsluiting (start)", "go_live"
    old: dt.datetime
    new: dt.datetime
    rule: str  # how it was moved, in words


@dataclass(frozen=True, kw_only=True)
class Kept:
    """A sentence kept as written because it is not about the schedule being re-planned."""

    line: int  # 1-based, in the source file
    sentence: str
    reason: str

    def message(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: kept as written ({self.reason}): {self.sentence}"


@dataclass(frozen=True, kw_only=True)
class PhaseLength:
    """A phase whose length in calendar days changes with the re-plan: holidays on one
    side of go-live stretch or shrink a phase kept in working days (Easter 2026 makes
    the transition 6 days long instead of 4)."""

    phase: str
    old: int  # calendar days, from the date of its start to the date of its end
    new: int
    holidays: tuple[str, ...]  # the non-working days other than weekends in the new one
    line: int  # where the phase is written in the new file (1-based; 0: unknown)
    col: int

    def message(self, file: str) -> str:
        where = f"{file}:{self.line}:{self.col}" if self.line else file
        why = f", with {', '.join(self.holidays)}" if self.holidays else ""
        return (
            f"{where}: warning: {self.phase}: {self.old} → {self.new} dagen (phase "
            f"{self.phase} lasts {self.new} calendar days instead of {self.old}{why}): "
            "check that it is meant to"
        )


@dataclass(kw_only=True)
class Plan:
    text: str  # the new runbook YAML
    moves: list[Move] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)  # these need a human: see the CLI
    flagged: int = 0  # comments flagged in the text for a human to check
    lengths: list[PhaseLength] = field(default_factory=list)  # phases that change length


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
    check_go_live(go_live, runbook.calendar)
    data = _yaml().load(source_text)
    plan = Plan(text="")
    work = _Replanning(
        calendar=runbook.calendar, old_live=runbook.go_live, new_live=go_live, plan=plan
    )
    work.move_times(data)
    plan.warnings.extend(_closures_kept(data))
    releases = _renumber(data, runbook, new_from, new_to, new_id)
    _start_document(data, today)
    if uses is not None:
        data["uses"] = uses
    _rewrite_texts(data, releases, work.date_map, runbook.go_live.year, plan.kept)
    out = io.StringIO()
    _yaml().dump(data, out)
    plan.text, plan.flagged = _flag_comments(out.getvalue(), work.moved_items)
    plan.lengths = _phase_lengths(runbook, work, plan.text)
    return plan


def _phase_lengths(runbook: Runbook, work: _Replanning, text: str) -> list[PhaseLength]:
    """Each phase whose length in calendar days differs after the re-plan, with where it
    is written in the new text."""
    phases = _yaml().load(text)["phases"]  # a CommentedSeq: where each phase is written
    out = []
    for i, (old, written) in enumerate(zip(runbook.phases, phases, strict=False)):
        start, end = work.new_time(written["start"]), work.new_time(written["end"])
        if start is None or end is None:
            continue  # relative to a milestone: not worked out here
        before = (old.end.date() - old.start.date()).days
        after = (end.date() - start.date()).days
        if before == after:
            continue
        days = (start.date() + dt.timedelta(days=n) for n in range(after + 1))
        reasons = (runbook.calendar.non_working_reason(day) for day in days)
        holidays = tuple(dict.fromkeys(r for r in reasons if r and r not in schedule.WEEKDAYS_NL))
        line, col = phases.lc.item(i)
        out.append(
            PhaseLength(
                phase=old.id,
                old=before,
                new=after,
                holidays=holidays,
                line=line + 1,
                col=col + 1,
            )
        )
    return out


@dataclass(kw_only=True)
class _Replanning:
    """The times of one re-plan being moved: it fills in the plan's moves and warnings,
    maps every old date to its new one (to rewrite dates in the text), and notes the
    items whose times moved (to flag their comments)."""

    calendar: schedule.WorkCalendar
    old_live: dt.datetime
    new_live: dt.datetime
    plan: Plan
    date_map: dict[dt.date, dt.date] = field(default_factory=dict)
    moved_items: list[tuple[str, int, list[Move]]] = field(default_factory=list)

    def move_times(self, data: Any) -> None:
        """Go-live, then every absolute time of the phases, milestones and dated facts."""
        data["go_live"] = _same_style(data["go_live"], f"{self.new_live:%Y-%m-%d %H:%M}")
        self.date_map[self.old_live.date()] = self.new_live.date()
        self.plan.moves.append(
            Move(what="go-live", old=self.old_live, new=self.new_live, rule="nieuwe go-live")
        )
        for i, phase in enumerate(data.get("phases", [])):
            before = len(self.plan.moves)
            for key in ("start", "end"):
                self._move_time(phase, key, f"fase {phase['id']} ({key})")
            self.moved_items.append(("phases", i, self.plan.moves[before:]))
        for list_key in ("milestones", "events"):
            for i, item in enumerate(data.get(list_key, [])):
                before = len(self.plan.moves)
                self._move_item(item)
                self.moved_items.append((list_key, i, self.plan.moves[before:]))

    def new_time(self, value: Any) -> dt.datetime | None:
        """A time of the re-planned runbook (already moved, or relative to go-live), or
        None when it is relative to a milestone."""
        rule = schedule.parse_relative(value) if isinstance(value, str) else None
        if rule is None:
            return schedule.parse_local(str(value))
        if rule.anchor != "go_live":
            return None
        try:
            return rule.resolve(self.new_live, self.calendar)
        except schedule.TimeError:
            return None

    def _move_item(self, item: Any) -> None:
        """A milestone's or dated fact's times, and a fact's date (milestones have none)."""
        for key in TIME_KEYS:
            if key in item:
                self._move_time(item, key, f"{item['id']}" + ("" if key == "at" else f" ({key})"))
        if "date" in item:
            self._move_date(item)

    def _move_time(self, container: Any, key: str | int, what: str) -> None:
        value = container[key]
        if not isinstance(value, str) or schedule.parse_relative(value) is not None:
            return  # relative: resolves against the new go-live by itself
        old = schedule.parse_local(value)
        new_day, rule = self._new_date(old.date(), container.get("distance", DISTANCES[0]))
        try:
            new = schedule.local(dt.datetime.combine(new_day, old.time()))
        except schedule.TimeError as exc:
            raise ReleaseError(f"{what}: {exc}") from None
        self.date_map[old.date()] = new_day
        container[key] = _same_style(value, f"{new:%Y-%m-%d %H:%M}")
        self.plan.moves.append(Move(what=what, old=old, new=new, rule=rule))

    def _move_date(self, event: Any) -> None:
        old_day = schedule.parse_date(event["date"])
        new_day, rule = self._new_date(old_day, event.get("distance", DISTANCES[0]))
        self.date_map[old_day] = new_day
        event["date"] = new_day
        midnight = dt.time(0, tzinfo=schedule.AMSTERDAM)
        self.plan.moves.append(
            Move(
                what=event["id"],
                old=dt.datetime.combine(old_day, midnight),
                new=dt.datetime.combine(new_day, midnight),
                rule=rule,
            )
        )

    def _new_date(self, day: dt.date, distance: str) -> tuple[dt.date, str]:
        """The new date of an old one, and the rule used."""
        if distance == "calendar days":
            return self._by_calendar_days(day)
        if self.calendar.is_working(day):
            n = self.calendar.distance(self.old_live.date(), day)
            return self.calendar.shift(self.new_live.date(), n), f"{n:+d} werkdagen t.o.v. go-live"
        return self._from_working_day_before(day)

    def _by_calendar_days(self, day: dt.date) -> tuple[dt.date, str]:
        n = (day - self.old_live.date()).days
        new = self.new_live.date() + dt.timedelta(days=n)
        reason = self.calendar.non_working_reason(new)
        if reason is not None and self.calendar.is_working(day):
            self.plan.warnings.append(
                f"{day.isoformat()} moved {n:+d} calendar days to {new.isoformat()}, "
                f"not a working day ({reason}): check it"
            )
        return new, f"{n:+d} kalenderdagen t.o.v. go-live"

    def _from_working_day_before(self, day: dt.date) -> tuple[dt.date, str]:
        """A non-working day hangs off the last working day before it and keeps its
        calendar-day offset from that day."""
        base = day
        while not self.calendar.is_working(base):
            base -= dt.timedelta(days=1)
        n = self.calendar.distance(self.old_live.date(), base)
        offset = (day - base).days
        new = self.calendar.shift(self.new_live.date(), n) + dt.timedelta(days=offset)
        if new.weekday() != day.weekday():
            self.plan.warnings.append(
                f"{day.isoformat()} ({schedule.WEEKDAYS_NL[day.weekday()]}, not a working day)"
                f" moved to {new.isoformat()} ({schedule.WEEKDAYS_NL[new.weekday()]}): "
                "a different weekday, check it"
            )
        return new, f"{n:+d} werkdagen +{offset} dag(en) (niet-werkdag in bron)"


def _closures_kept(data: Any) -> list[str]:
    """The warning that closures stay as written, when the runbook has any."""
    if not data.get("working_days", {}).get("closures"):
        return []
    return [
        "working_days.closures are kept as they were: closures of the source year are "
        "probably not closures of the new one"
    ]


def _renumber(
    data: Any, runbook: Runbook, new_from: str, new_to: str, new_id: str | None
) -> tuple[str, str, str, str]:
    """The new release pair, and the id (given, or the old one with the new numbers);
    returns (old from, old to, new from, new to)."""
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
    return old_from, old_to, new_from, new_to


def _start_document(data: Any, today: dt.date) -> None:
    """A new document: dated today, its version table starting again at a concept (a
    preview for reviewers until a final row is added above it)."""
    data["date"] = today
    row = CommentedMap(
        version=DoubleQuotedScalarString("0.1"),
        date=dt.date.fromordinal(today.toordinal()),  # its own object: no YAML anchor
        status=CONCEPT,
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


def _rewrite_texts(
    data: Any,
    releases: tuple[str, str, str, str],
    date_map: dict[dt.date, dt.date],
    year: int,
    kept: list[Kept],
) -> None:
    """Every prose string rewritten where it is about the re-planned migration."""
    for _path, container, key, text in _texts(data):
        replaced = _rewrite_text(
            text, _line_of(container, key, text), releases, date_map, year, kept
        )
        if replaced != text:
            container[key] = _same_style(text, replaced)


def _line_of(container: Any, key: Any, text: str) -> int:
    """The 1-based source line where `container[key]` starts (a block scalar: its first
    line of text)."""
    where = getattr(container, "lc", None)
    if where is None:
        return 0
    found = where.item(key) if isinstance(container, list) else where.value(key)
    if found is None and not isinstance(container, list):
        found = where.key(key)  # a flow mapping: ruamel has the key's place
    line = found[0] if found is not None else where.line
    if line is None:
        return 0  # made here (the new version row), not read from the source
    block = isinstance(text, LiteralScalarString | FoldedScalarString)
    return int(line) + 1 + (1 if block else 0)


_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")
# a release: "iWmo 3.0", "iJw 2.4", "versie 3.1", "3.0-berichten", "3.0 naar 3.1"
_RELEASE = re.compile(
    r"(?:(?<=iWmo )|(?<=iJw )|(?<=versie )|(?<=versies )|(?<=release ))(\d+\.\d+)(?![.\d])"
    r"|(?<![\d.])(\d+\.\d+)(?=-\w|-? en |-? naar |\s+naar\s)"
    r"|(?<= naar )(\d+\.\d+)(?![.\d])"
)


def _rewrite_text(
    text: str,
    first_line: int,
    releases: tuple[str, str, str, str],
    date_map: dict[dt.date, dt.date],
    year: int,
    kept: list[Kept],
) -> str:
    """`text` with its sentences about the re-planned migration rewritten; any other
    sentence is kept as written and noted in `kept`."""
    old_from, old_to, new_from, new_to = releases
    pattern = _version_pattern(old_from, old_to)
    mapping = {old_from: new_from, old_to: new_to}
    pieces: list[str] = []
    position = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = match.start() if match else len(text)
        sentence = text[position:end]
        line = first_line + text[:position].count("\n")
        others = sorted(
            {v for m in _RELEASE.finditer(sentence) for v in m.groups() if v} - {old_from, old_to}
        )
        unknown = _unknown_dates(sentence, date_map, year)
        if others or unknown:
            reasons = []
            if others:
                reasons.append(f"names release {', '.join(others)}, not {old_from} or {old_to}")
            if unknown:
                reasons.append(f"names {', '.join(unknown)}, not a date of the schedule")
            kept.append(
                Kept(line=line, sentence=" ".join(sentence.split()), reason="; ".join(reasons))
            )
            pieces.append(sentence)
        else:
            rewritten = pattern.sub(lambda m: mapping[m.group(1)], sentence)
            pieces.append(_rewrite_dates(rewritten, date_map, year))
        if match:
            pieces.append(match.group(0))
            position = match.end()
    return "".join(pieces)


def _flag_comments(text: str, moved_items: list[tuple[str, int, list[Move]]]) -> tuple[str, int]:
    """Put a CHECK line above every comment inside an item whose times moved (or on the
    line of one of them): it was written about the old schedule."""
    data = _yaml().load(text)
    lines = text.split("\n")
    top_lines = sorted(data.lc.key(k)[0] for k in data)
    above: dict[int, str] = {}  # 0-based line -> CHECK line to put above it
    for list_key, index, moves in moved_items:
        if not moves or list_key not in data:
            continue
        items = data[list_key]
        first, column = items.lc.item(index)
        if index + 1 < len(items):
            last = items.lc.item(index + 1)[0]
        else:
            last = min([n for n in top_lines if n > first] or [len(lines)])
        for n in range(first, last):
            content = lines[n]
            bare = content.lstrip()
            own_line = bare.startswith("#") and len(content) - len(bare) >= column
            trailing = not bare.startswith("#") and _trailing_comment(content)
            if (own_line or trailing) and not bare.startswith(CHECK):
                # where a comment stands between items, it is in the item above: only
                # comments indented inside the item (or at the end of its lines) count
                what = ", ".join(
                    f"{m.what} {m.old:%Y-%m-%d %H:%M} -> {m.new:%Y-%m-%d %H:%M}" for m in moves
                )
                indent = content[: len(content) - len(bare)]
                above[n] = (
                    f"{indent}{CHECK} the comment below was written about the old schedule ({what})"
                )
    out: list[str] = []
    for n, content in enumerate(lines):
        if n in above:
            out.append(above[n])
        out.append(content)
    return "\n".join(out), len(above)


def _trailing_comment(line: str) -> bool:
    """A `  # ...` after a value, outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and i > 0 and line[i - 1] in " \t":
            return True
    return False


def write(plan: Plan, out: Path, check: Callable[[Path], None]) -> None:
    """Write the plan's runbook to `out` once `check` (say, loading it as a runbook)
    passes on a copy beside it, so that relative `uses` resolve as they will; the file
    appears whole or not at all (calgen.core.fsutil.atomic_write). `check` raises to refuse."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".check.yaml")
    try:
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(plan.text)
        check(Path(name))
    finally:
        Path(name).unlink(missing_ok=True)
    fsutil.atomic_write(out, plan.text)


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


_WEEKDAY = "|".join(schedule.WEEKDAYS_NL)
_DATE_PHRASE = re.compile(
    rf"\b(?:(?P<weekday>{_WEEKDAY}) )?(?P<day>\d{{1,2}}) (?P<month>{'|'.join(MONTHS)})"
    rf"(?: (?P<year>\d{{4}}))?\b",
    re.IGNORECASE,
)


def _dates(text: str, year: int) -> Iterator[tuple[re.Match[str], dt.date]]:
    """`woensdag 30 maart 2022` (weekday and year optional) in `text`, as dates."""
    for match in _DATE_PHRASE.finditer(text):
        month = MONTHS.index(match["month"].lower()) + 1
        try:
            yield match, dt.date(int(match["year"] or year), month, int(match["day"]))
        except ValueError:
            continue


def _unknown_dates(text: str, date_map: dict[dt.date, dt.date], year: int) -> list[str]:
    return [f"'{match.group(0)}'" for match, day in _dates(text, year) if day not in date_map]


def _rewrite_dates(text: str, date_map: dict[dt.date, dt.date], year: int) -> str:
    """Rewrite `woensdag 30 maart 2022` (weekday and year optional), a date of the
    schedule (the caller has kept sentences with any other date as written)."""
    pieces: list[str] = []
    position = 0
    for match, old in _dates(text, year):
        new = date_map[old]
        words = []
        if match["weekday"]:
            weekday = schedule.WEEKDAYS_NL[new.weekday()]
            words.append(weekday.capitalize() if match["weekday"][0].isupper() else weekday)
        words += [str(new.day), MONTHS[new.month - 1]]
        if match["year"]:
            words.append(str(new.year))
        pieces += [text[position : match.start()], " ".join(words)]
        position = match.end()
    return "".join(pieces) + text[position:]


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
