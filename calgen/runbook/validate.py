"""Loaded YAML into the domain objects of :mod:`calgen.runbook.model`, checked on the way.

:func:`load_runbook` reads a runbook and the shared files it `uses`, checks structure
against the schema (:mod:`calgen.runbook.check`), then checks every domain rule, collecting *all*
problems before it raises once. Where each domain rule is checked:
- the `_build_<part>` functions build one part and check what is local to it as they go
  (duplicate ids and sections, unknown contacts, message codes and reminder roles, a
  milestone outside `sections`, `at` versus `start`/`end`, periods that end before they
  start, lead times, office hours, holiday names);
- the `_validate_<rule>` functions check one named rule each: the rules across parts
  (phase order, go-live, working days), which `_build` calls, and `_validate_roles_known`,
  called wherever roles are listed;
- :class:`calgen.runbook.context.Context` resolves times (unknown anchors, cycles, DST) and
  :func:`calgen.runbook.context.load_shared` checks the `uses` entries and the shared files;
- :func:`load_many` refuses a runbook id used twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from calgen.core import layout, schedule
from calgen.core.errors import Diagnostics, InvalidRunbookError, Pos
from calgen.core.reminders import (
    OFFICE_HOURS,
    Lead,
    OfficeHours,
    ReminderPolicy,
    parse_lead,
    parse_office_hours,
)
from calgen.runbook.check import check
from calgen.runbook.context import (
    Context,
    build_contact,
    check_contact_addresses,
    load_shared,
    unknown,
)
from calgen.runbook.load import PathKey, load_file
from calgen.runbook.model import (
    PHASE_ORDER,
    Block,
    Contact,
    Event,
    MessageRef,
    Milestone,
    Phase,
    Runbook,
    Section,
    Version,
)
from calgen.runbook.schema import CONCEPT, FINAL, MESSAGE_CODE, RUNBOOK_SCHEMA


def load_runbook(
    path: Path, display: str | None = None, holidays: schedule.HolidayTable | None = None
) -> tuple[Runbook, Diagnostics]:
    """Load, check and build one runbook. Raises InvalidRunbookError with every error found;
    returns the warnings along with the runbook. `holidays`: the run's holiday table (a
    new one when not given)."""
    diags = Diagnostics()
    doc = load_file(path, diags, display)
    if not diags.errors and not isinstance(doc.data, dict):
        diags.error(doc.pos(()), "a runbook is a mapping of keys (id, title, phases, ...)")
    diags.raise_if_errors()
    check(doc, RUNBOOK_SCHEMA, diags)
    ctx = Context(doc, diags, holidays or schedule.HolidayTable())
    ctx.broken = {d.path for d in diags.errors}
    load_shared(ctx, path, display)
    runbook = _build(ctx)
    diags.raise_if_errors()
    assert runbook is not None  # errors above would have raised
    return runbook, Diagnostics(items=diags.warnings)


def _build(ctx: Context) -> Runbook | None:
    data = ctx.doc.data
    ctx.calendar = _build_calendar(ctx)
    go_live = ctx.time(("go_live",), ctx.value("go_live")) if ctx.value("go_live") else None
    ctx.go_live = go_live
    for i, m in ctx.items("milestones"):
        key = "at" if "at" in m else "start"
        if key in m and m["id"] not in ctx.milestone_starts:
            ctx.milestone_starts[m["id"]] = (("milestones", i, key), m[key])
    contacts = _build_contacts(ctx)
    phases = _build_phases(ctx)
    sections = _build_sections(ctx, contacts)
    milestones = _build_milestones(ctx, sections)
    events = _build_events(ctx)
    versions = _build_versions(ctx)
    day = ctx.date(("date",), ctx.value("date")) if ctx.value("date") else None
    _validate_phase_order(ctx, phases)
    if go_live is not None:
        _validate_go_live_starts_last_phase(ctx, phases, go_live)
    _validate_milestones_on_working_days(ctx, milestones)
    if go_live is not None and not ctx.diags.errors:
        _validate_milestones_in_their_phase(ctx, phases, milestones, go_live)
    if ctx.diags.errors or go_live is None:
        return None
    goal = data.get("goal", {})
    release = data.get("release", {})
    return Runbook(
        id=data["id"],
        title=data["title"],
        source=ctx.doc.file,
        go_live=go_live,
        phases=tuple(phases),
        sections=tuple(sections.values()),
        milestones=tuple(milestones),
        events=tuple(events),
        roles=tuple(ctx.roles.values()),
        messages=tuple(ctx.messages.values()),
        contacts=tuple(contacts.values()),
        standards=tuple(data.get("standards", [])),
        release_from=release.get("from", ""),
        release_to=release.get("to", ""),
        date=day,
        versions=versions,
        introduction=tuple(_block(b) for b in data.get("introduction", [])),
        goal=Block(text=goal["text"]) if "text" in goal else None,
        goal_sections=tuple(_block(b) for b in goal.get("sections", [])),
        principles=tuple(_block(b) for b in data.get("principles", [])),
        refresh=data.get("feed", {}).get("refresh", "PT12H"),
        calendar=ctx.calendar,
        uses=tuple(ctx.value("uses") or ()),
        reminders=_build_reminders(ctx),
        id_line=ctx.doc.pos(("id",)).line,
    )


def _build_versions(ctx: Context) -> tuple[Version, ...]:
    """The version table, newest first, each row's status given or derived (`_status`)."""
    out = []
    for i, v in ctx.items("versions"):
        day = ctx.date(("versions", i, "date"), v["date"])
        if day is None:
            continue
        where = ctx.doc.pos(("versions", i))
        out.append(
            Version(
                version=v["version"],
                date=day,
                note=v.get("note", ""),
                status=_status(v),
                line=where.line,
                col=where.col,
            )
        )
    return tuple(out)


def _status(row: dict[str, Any]) -> str:
    """A row's `status`, or without one: a concept when its note begins with the word
    Concept (the seeds' "0.1 Concept", and rows an older `new-release` wrote), else final
    (the seeds' "1.0 Definitief")."""
    if "status" in row:
        return str(row["status"])
    words = str(row.get("note", "")).split(maxsplit=1)
    return CONCEPT if words and words[0].strip(".,:;").lower() == CONCEPT else FINAL


def _leads(ctx: Context, path: PathKey, values: list[str]) -> tuple[Lead, ...]:
    """Lead times in order, each once; the schema has checked their form, this their size."""
    leads = []
    for j, value in enumerate(values):
        lead = parse_lead(value)
        if lead is None:
            ctx.error((*path, j), f"lead time '{value}' is more than a year: not a reminder")
        else:
            leads.append(lead)
    return tuple(dict.fromkeys(leads))


def _build_reminders(ctx: Context) -> ReminderPolicy:
    """Lead times by runbook, role and kind of event (calgen.core.reminders)."""
    spec = ctx.value("reminders") or {}
    for role in spec.get("roles", {}):
        if role not in ctx.roles:
            unknown(ctx, ("reminders", "roles", role), "role", role, ctx.roles)
    where: PathKey = ("reminders",)
    return ReminderPolicy(
        default=_leads(ctx, (*where, "default"), spec["default"]) if "default" in spec else None,
        roles={r: _leads(ctx, (*where, "roles", r), v) for r, v in spec.get("roles", {}).items()},
        kinds={k: _leads(ctx, (*where, "kinds", k), v) for k, v in spec.get("kinds", {}).items()},
        office_hours=_office_hours(ctx, (*where, "office_hours"), spec),
    )


def _office_hours(ctx: Context, path: PathKey, spec: dict[str, Any]) -> OfficeHours | None:
    """`reminders.office_hours` (calgen.core.reminders): default 08:00-18:00."""
    if "office_hours" not in spec:
        return OFFICE_HOURS
    try:
        return parse_office_hours(spec["office_hours"])
    except ValueError as exc:
        ctx.error(path, str(exc))
        return OFFICE_HOURS


def _build_calendar(ctx: Context) -> schedule.WorkCalendar:
    """The runbook's working days: named holidays counted as working, closures added."""
    spec = ctx.value("working_days") or {}
    if spec.get("count_as_working"):
        known = ctx.holidays.all_names()  # many years of holidays: only when needed
        for j, name in enumerate(spec["count_as_working"]):
            if name not in known:
                unknown(ctx, ("working_days", "count_as_working", j), "holiday", name, known)
    closures = []
    for j, closure in enumerate(spec.get("closures", [])):
        day = ctx.date(("working_days", "closures", j, "date"), closure["date"])
        if day is not None:
            closures.append((day, closure["reason"]))
    return schedule.WorkCalendar(
        working_holidays=frozenset(spec.get("count_as_working", [])),
        closures=tuple(closures),
        holidays=ctx.holidays,
    )


def _block(data: dict[str, Any]) -> Block:
    return Block(
        text=data.get("text", ""),
        title=data.get("title", ""),
        number=data.get("number", ""),
        contacts=tuple(data.get("contacts", [])),
    )


def _build_contacts(ctx: Context) -> dict[str, Contact]:
    """A runbook's contacts: shared ones by id, optionally with fields that differ."""
    out: dict[str, Contact] = {}
    for i, entry in ctx.items("contacts"):
        ref = entry if isinstance(entry, str) else entry["ref"]
        path: PathKey = ("contacts", i) if isinstance(entry, str) else ("contacts", i, "ref")
        if ref not in ctx.contacts:
            unknown(ctx, path, "contact", ref, ctx.contacts)
            continue
        base = ctx.contacts[ref]
        if not isinstance(entry, str):
            check_contact_addresses(ctx.doc, ("contacts", i), entry, ctx.diags)
        out[ref] = base if isinstance(entry, str) else build_contact(entry, base)
    # prose refers to contacts by id: those must be listed or shared
    referring = [
        (key, i, item) for key in ("introduction", "sections") for i, item in ctx.items(key)
    ]
    for key, i, item in referring:
        for j, ref in enumerate(item.get("contacts", [])):
            if ref in out:
                continue
            if ref in ctx.contacts:
                out[ref] = ctx.contacts[ref]
            else:
                unknown(ctx, (key, i, "contacts", j), "contact", ref, ctx.contacts)
    return out


def _build_phases(ctx: Context) -> list[Phase]:
    phases = []
    for i, p in ctx.items("phases"):
        start = ctx.time(("phases", i, "start"), p["start"])
        end = ctx.time(("phases", i, "end"), p["end"])
        if start and end and end <= start:
            ctx.error(("phases", i, "end"), f"phase '{p['id']}' ends before it starts")
        if start and end:
            phases.append(
                Phase(
                    id=p["id"],
                    number=i + 1,
                    title=p["title"],
                    start=start,
                    end=end,
                    summary=p.get("summary", ""),
                    text=p.get("text", ""),
                    end_note=p.get("end_note", ""),
                )
            )
    return phases


def _validate_phase_order(ctx: Context, phases: list[Phase]) -> None:
    """Phases are afsluiting, transitie, ingebruikname, in that order, one after another."""
    written = ctx.doc.data.get("phases")
    if ctx.is_broken(("phases",)) or not isinstance(written, list) or len(phases) != len(written):
        return  # the structural problems were reported; order cannot be judged
    ids = [p.id for p in phases]
    if ids != list(PHASE_ORDER):
        ctx.error(
            ("phases",),
            f"phases must be {', '.join(PHASE_ORDER)} in that order (found {', '.join(ids)})",
        )
        return
    for i, (before, after) in enumerate(itertools.pairwise(phases)):
        if after.start < before.end:
            ctx.error(
                ("phases", i + 1, "start"),
                f"phase '{after.id}' starts before phase '{before.id}' ends",
            )


def _validate_go_live_starts_last_phase(
    ctx: Context, phases: list[Phase], go_live: dt.datetime
) -> None:
    """Go-live is the moment phase 3 (ingebruikname) begins."""
    last = [p for p in phases if p.id == "ingebruikname"]
    if last and last[0].start != go_live:
        ctx.error(("go_live",), "go_live must be the start of phase 'ingebruikname'")


def _build_sections(ctx: Context, contacts: dict[str, Contact]) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    for i, s in ctx.items("sections"):
        if s["number"] in sections:
            ctx.error(("sections", i, "number"), f"section {s['number']} is listed twice")
            continue
        sections[s["number"]] = Section(
            number=s["number"],
            phase=s["phase"],
            title=s.get("title", ""),
            text=s.get("text", ""),
            inform=_inform(ctx, ("sections", i, "inform"), s.get("inform", [])),
            contacts=tuple(s.get("contacts", [])),
        )
    return sections


def _inform(ctx: Context, path: PathKey, value: str | list[str]) -> frozenset[str]:
    if isinstance(value, str):  # the schema admits only "all"
        return frozenset(ctx.roles)
    _validate_roles_known(ctx, path, value)
    return frozenset(value)


def _validate_roles_known(ctx: Context, path: PathKey, roles: list[str]) -> None:
    """Every role id names a role from the shared roles file."""
    seen: set[str] = set()
    for j, role in enumerate(roles):
        if role not in ctx.roles:
            unknown(ctx, (*path, j), "role", role, ctx.roles)
        elif role in seen:
            ctx.error((*path, j), f"role '{role}' is listed twice")
        seen.add(role)


def _build_milestones(ctx: Context, sections: dict[str, Section]) -> list[Milestone]:
    out: list[Milestone] = []
    seen: dict[str, int] = {}
    for i, m in ctx.items("milestones"):
        path: PathKey = ("milestones", i)
        mid = m["id"]
        if mid in seen:
            first = ctx.doc.pos(("milestones", seen[mid], "id"))
            ctx.error((*path, "id"), f"duplicate milestone id '{mid}' (first at line {first.line})")
            continue
        seen[mid] = i
        _validate_roles_known(ctx, (*path, "roles"), m["roles"])
        section_number = mid.rsplit(".", 1)[0]
        section = sections.get(section_number)
        if section is None:
            ctx.error(
                (*path, "id"),
                f"milestone {mid} belongs to section {section_number}, which is not in `sections`",
            )
        times = _moment_or_period(ctx, path, m, allow_date=False)
        messages = _messages(ctx, (*path, "messages"), m.get("messages", []))
        inform = _inform(ctx, (*path, "inform"), m.get("inform", []))
        if times is None or section is None:
            continue
        start, end = times
        assert start is not None
        out.append(
            Milestone(
                id=mid,
                title=m["title"],
                section=section_number,
                phase=section.phase,
                roles=tuple(m["roles"]),
                start=start,
                end=end,
                description=m.get("description", ""),
                notes=tuple(m.get("notes", [])),
                time_label=m.get("time_label", ""),
                actionholder=m.get("actionholder", ""),
                messages=messages,
                audience=frozenset(m["roles"]) | section.inform | inform,
                start_rule=ctx.rule((*path, "at" if "at" in m else "start")),
                end_rule=ctx.rule((*path, "end")),
                reminders=(
                    _leads(ctx, (*path, "reminders"), m["reminders"]) if "reminders" in m else None
                ),
            )
        )
    return out


def _moment_or_period(
    ctx: Context, path: PathKey, item: dict[str, Any], allow_date: bool
) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """Exactly one of `at`, `start`+`end` (or `date` where allowed); a period ends after
    it starts."""
    kinds = ["at", "start"] + (["date"] if allow_date else [])
    given = [k for k in ("at", "start", "end", "date") if k in item]
    if "end" in item and "start" not in item:
        ctx.error((*path, "end"), "`end` needs a `start`")
        return None
    if "start" in item and "end" not in item:
        ctx.error((*path, "start"), "a period needs both `start` and `end` (or use `at`)")
        return None
    chosen = [k for k in given if k in kinds]
    if len(chosen) != 1:
        options = " or ".join(f"`{k}`" for k in kinds).replace("`start`", "`start`/`end`")
        what = "none" if not chosen else " and ".join(f"`{k}`" for k in chosen)
        ctx.error(path, f"give exactly one of {options} (found {what})")
        return None
    if chosen == ["date"]:
        return (None, None)
    if chosen == ["at"]:
        at = ctx.time((*path, "at"), item["at"])
        return (at, None) if at else None
    start = ctx.time((*path, "start"), item["start"])
    end = ctx.time((*path, "end"), item["end"])
    if start is None or end is None:
        return None
    if end <= start:
        ctx.error(
            (*path, "end"),
            f"the period ends ({item['end']}) before or when it starts ({item['start']})",
        )
        return None
    return start, end


_CODE = re.compile(MESSAGE_CODE)  # the schema's form; the catalogue number is its last 3 digits


def _messages(ctx: Context, path: PathKey, codes: list[str]) -> tuple[MessageRef, ...]:
    """Every code is in the shared message catalogue ('WMO315' means catalogue 315)."""
    refs = []
    for j, written in enumerate(codes):
        match = _CODE.match(written)
        if not match:
            continue  # the schema already reported its form
        message = ctx.messages.get(written[-3:])
        if message is None:
            unknown(ctx, (*path, j), "message code", written, ctx.messages)
            continue
        refs.append(MessageRef(written=written, message=message))
    return tuple(refs)


def _build_events(ctx: Context) -> list[Event]:
    out: list[Event] = []
    seen: set[str] = set()
    for i, e in ctx.items("events"):
        path: PathKey = ("events", i)
        if e["id"] in seen:
            ctx.error((*path, "id"), f"duplicate event id '{e['id']}'")
            continue
        seen.add(e["id"])
        _validate_roles_known(ctx, (*path, "roles"), e["roles"])
        times = _moment_or_period(ctx, path, e, allow_date=True)
        if times is None:
            continue
        day = ctx.date((*path, "date"), e["date"]) if "date" in e else None
        start, end = times
        out.append(
            Event(
                id=e["id"],
                title=e["title"],
                roles=tuple(e["roles"]),
                text=e.get("text", ""),
                day=day,
                start=start,
                end=end,
                reminders=(
                    _leads(ctx, (*path, "reminders"), e["reminders"]) if "reminders" in e else None
                ),
            )
        )
    return out


def _validate_milestones_on_working_days(ctx: Context, milestones: list[Milestone]) -> None:
    """Warn when a milestone falls on a weekend or a Dutch public holiday."""
    index = {m["id"]: i for i, m in ctx.items("milestones")}
    for m in milestones:
        moments = [("at" if m.end is None else "start", m.start)]
        if m.end is not None and m.end.date() != m.start.date():
            moments.append(("end", m.end))
        for key, moment in moments:
            reason = ctx.calendar.non_working_reason(moment.date())
            if reason is None:
                continue
            weekday = schedule.WEEKDAYS_NL[moment.weekday()]
            holiday = ctx.holidays.name(moment.date())
            kind = "public holiday" if holiday == reason else "closure"
            name = "" if reason == weekday else f", {reason} ({kind})"
            ctx.warning(
                ("milestones", index[m.id], key),
                f"milestone {m.id} falls on a non-working day: {weekday} {moment:%Y-%m-%d}{name}",
            )


def _validate_milestones_in_their_phase(
    ctx: Context, phases: list[Phase], milestones: list[Milestone], go_live: dt.datetime
) -> None:
    """Warn when a milestone lies outside its phase's window, or on the other side of
    go-live than its section (almost always a typing error: a deadline of phase 1 in
    December, eight months after go-live).

    A phase's window includes its end: a deadline at the end instant of a phase belongs
    to the phase it closes. The window of a phase before go-live reaches to go-live: the
    closing tables list what runs on into the transition (reading in the portals, the
    hubs' migration) and end with go-live itself."""
    index = {m["id"]: i for i, m in ctx.items("milestones")}
    by_id = {p.id: p for p in phases}
    live = f"go-live ({go_live:%Y-%m-%d %H:%M})"
    for m in milestones:
        phase = by_id.get(m.phase)
        if phase is None:
            continue
        before_live = phase.start < go_live
        last = m.end or m.start
        start: PathKey = ("milestones", index[m.id], "at" if m.end is None else "start")
        end: PathKey = ("milestones", index[m.id], "at" if m.end is None else "end")
        what = f"milestone {m.id} (section {m.section}, phase {phase.id})"
        if before_live and last > go_live:
            after = m.start if m.start > go_live else last
            ctx.warning(
                start if m.start > go_live else end,
                f"{what} lies {_days(go_live, after)} after {live} in a section before "
                f"go-live: {_moments(m)}; a typing error?",
            )
        elif not before_live and m.start < go_live:
            ctx.warning(
                start,
                f"{what} lies {_days(m.start, go_live)} before {live} in a section after "
                f"go-live: {_moments(m)}; a typing error?",
            )
        elif m.start < phase.start:
            ctx.warning(
                start,
                f"{what} lies {_days(m.start, phase.start)} before its phase begins "
                f"({phase.start:%Y-%m-%d %H:%M}): {_moments(m)}",
            )
        elif not before_live and last > phase.end:
            ctx.warning(
                end,
                f"{what} lies {_days(phase.end, last)} after its phase ends "
                f"({phase.end:%Y-%m-%d %H:%M}): {_moments(m)}",
            )


def _days(earlier: dt.datetime, later: dt.datetime) -> str:
    """`265 days`, `1 day`, `5 hours`: how far apart two moments are."""
    gap = later - earlier
    if gap >= dt.timedelta(days=1):
        return f"{gap.days} day{'s' if gap.days != 1 else ''}"
    hours = max(1, round(gap.total_seconds() / 3600))
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _moments(m: Milestone) -> str:
    """`2022-12-25 17:00`, or `2022-03-31 14:00 - 2022-03-31 23:00` for a period."""
    if m.end is None:
        return f"{m.start:%Y-%m-%d %H:%M}"
    return f"{m.start:%Y-%m-%d %H:%M} - {m.end:%Y-%m-%d %H:%M}"


def load_many(
    paths: Iterable[Path], holidays: schedule.HolidayTable | None = None
) -> tuple[list[Runbook], Diagnostics]:
    """Load several runbooks with one holiday table; every file's problems are collected."""
    holidays = holidays or schedule.HolidayTable()
    diags = Diagnostics()
    runbooks = []
    for path in paths:
        try:
            runbook, warnings = load_runbook(path, holidays=holidays)
        except InvalidRunbookError as exc:
            diags.extend(exc.diagnostics)
            continue
        diags.extend(warnings)
        runbooks.append(runbook)
    ids: dict[str, str] = {}
    for rb in runbooks:
        if rb.id in ids:
            diags.error(
                Pos(file=rb.source, line=rb.id_line, col=5),
                f"runbook id '{rb.id}' is also used by {ids[rb.id]}",
            )
        ids[rb.id] = rb.source
    _validate_durable_paths(runbooks, diags)
    return runbooks, diags


def _validate_durable_paths(runbooks: Sequence[Runbook], diags: Diagnostics) -> None:
    """No runbook id is the folder of a standard's durable feeds (calgen.core.layout;
    the known standards' folders and file-like ids are refused by the schema already)."""
    by_id = {rb.id: rb for rb in runbooks}
    for standard in sorted({s for rb in runbooks for s in rb.standards}):
        folder = layout.standard_folder(standard)
        if folder in by_id:
            rb = by_id[folder]
            diags.error(
                Pos(file=rb.source, line=rb.id_line, col=5),
                f"runbook id {folder!r} is also the folder of the durable {standard} feeds "
                f"({folder}/): give the runbook another id",
            )
