"""Frozen domain objects, and the checks that turn loaded YAML into them.

:func:`load_runbook` reads a runbook and the shared files it `uses`, checks structure
against the schema, then checks every domain rule, collecting *all* problems before it
raises once. Validators are named `_validate_<rule>`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from calgen import schedule
from calgen.errors import Diagnostics, InvalidRunbook, Pos
from calgen.load import (
    Document,
    PathKey,
    SharedPathError,
    format_path,
    load_file,
    shared_path_of,
)
from calgen.reminders import (
    OFFICE_HOURS,
    Lead,
    OfficeHours,
    ReminderPolicy,
    parse_lead,
    parse_office_hours,
)
from calgen.schema import RUNBOOK_SCHEMA, SHARED_SCHEMA, check

PHASE_ORDER = ("afsluiting", "transitie", "ingebruikname")


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Message:
    code: str
    name: str
    kind: str = ""
    sender: str = ""


@dataclass(frozen=True)
class MessageRef:
    """A code as the runbook writes it ('WMO315') and the catalogue entry it means."""

    written: str
    message: Message


@dataclass(frozen=True)
class Channel:
    email: str
    audience: str = ""
    note: str = ""


@dataclass(frozen=True)
class Contact:
    id: str
    organisation: str
    name: str = ""
    team: str = ""
    phone: str = ""
    email: str = ""
    web: str = ""
    visit_address: tuple[str, ...] = ()
    postal_address: tuple[str, ...] = ()
    channels: tuple[Channel, ...] = ()


@dataclass(frozen=True)
class Block:
    """A piece of prose: optional heading and number, Markdown text, contacts after it."""

    text: str
    title: str = ""
    number: str = ""
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Version:
    version: str
    date: dt.date
    note: str = ""


@dataclass(frozen=True)
class Phase:
    id: str
    number: int
    title: str
    start: dt.datetime
    end: dt.datetime
    summary: str = ""
    text: str = ""
    end_note: str = ""  # why the end is what it is, when the runbook gives no end date


@dataclass(frozen=True)
class Section:
    number: str
    phase: str
    title: str = ""
    text: str = ""
    inform: frozenset[str] = frozenset()
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Milestone:
    id: str
    title: str
    section: str
    phase: str
    roles: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime | None = None  # None: a deadline at `start`; else a period
    description: str = ""
    notes: tuple[str, ...] = ()
    time_label: str = ""
    actionholder: str = ""
    messages: tuple[MessageRef, ...] = ()
    audience: frozenset[str] = frozenset()  # every role whose feed carries it
    start_rule: str = ""  # the relative rule its time was written as, in Dutch, or ""
    end_rule: str = ""
    reminders: tuple[Lead, ...] | None = None  # its own lead times; None: the runbook's

    @property
    def kind(self) -> str:
        return "period" if self.end is not None else "deadline"

    @property
    def is_period(self) -> bool:
        return self.end is not None


@dataclass(frozen=True)
class Event:
    """A dated fact without a number (KTO available, latest announcement of a failure)."""

    id: str
    title: str
    roles: tuple[str, ...]
    text: str = ""
    day: dt.date | None = None  # an all-day event
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    reminders: tuple[Lead, ...] | None = None

    @property
    def moment(self) -> dt.datetime:
        """When it begins (midnight, for an all-day event)."""
        if self.start is not None:
            return self.start
        assert self.day is not None
        return dt.datetime.combine(self.day, dt.time(0), tzinfo=schedule.AMSTERDAM)


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    source: str
    go_live: dt.datetime
    phases: tuple[Phase, ...]
    sections: tuple[Section, ...]
    milestones: tuple[Milestone, ...]
    events: tuple[Event, ...]
    roles: tuple[Role, ...]
    messages: tuple[Message, ...]
    contacts: tuple[Contact, ...]
    standards: tuple[str, ...] = ()
    release_from: str = ""
    release_to: str = ""
    date: dt.date | None = None
    versions: tuple[Version, ...] = ()
    introduction: tuple[Block, ...] = ()
    goal: Block | None = None
    goal_sections: tuple[Block, ...] = ()
    principles: tuple[Block, ...] = ()
    refresh: str = "PT12H"
    uses: tuple[str, ...] = ()
    reminders: ReminderPolicy = ReminderPolicy()
    id_line: int = 1  # where the id is written, for messages about it
    calendar: schedule.WorkCalendar = schedule.DEFAULT_CALENDAR

    @cached_property
    def _roles_by_id(self) -> dict[str, Role]:
        return {r.id: r for r in self.roles}

    @cached_property
    def _contacts_by_id(self) -> dict[str, Contact]:
        return {c.id: c for c in self.contacts}

    def role(self, role_id: str) -> Role:
        return self._roles_by_id[role_id]

    def contact(self, contact_id: str) -> Contact:
        return self._contacts_by_id[contact_id]

    @property
    def stamp(self) -> dt.datetime:
        """The moment this edition was published, from the data, never from the clock.

        The newest version-table date, else the document date, else the start of the
        first phase: DTSTAMP must not change between two builds of the same input.
        """
        days = [v.date for v in self.versions] + ([self.date] if self.date else [])
        if days:
            return dt.datetime.combine(max(days), dt.time(0, 0), tzinfo=schedule.UTC)
        return self.phases[0].start.astimezone(schedule.UTC)


# --------------------------------------------------------------------------- loading


class _Ctx:
    """What the validators share: the document, the diagnostics, and lookups."""

    def __init__(self, doc: Document, diags: Diagnostics) -> None:
        self.doc = doc
        self.diags = diags
        self.roles: dict[str, Role] = {}
        self.messages: dict[str, Message] = {}
        self.contacts: dict[str, Contact] = {}
        # paths the structural check found wrong: domain checks pass over them, so that
        # one run reports every problem without tripping over malformed data
        self.broken: set[str] = set()
        # time resolution: relative times refer to go-live or to a milestone's start
        self.calendar = schedule.DEFAULT_CALENDAR
        self.go_live: dt.datetime | None = None
        self.milestone_starts: dict[str, tuple[PathKey, str]] = {}
        self.resolved: dict[PathKey, dt.datetime | None] = {}
        self.rules: dict[PathKey, schedule.Relative] = {}

    def is_broken(self, path: PathKey) -> bool:
        if not self.broken:
            return False  # the common case: a structurally sound file
        here = format_path(path)
        for bad in self.broken:
            if not bad:
                continue
            for a, b in ((here, bad), (bad, here)):
                if a == b or a.startswith(b + ".") or a.startswith(b + "["):
                    return True
        return False

    def items(self, key: str) -> Iterable[tuple[int, Any]]:
        """The structurally sound entries of the top-level list `key`."""
        values = self.doc.data.get(key)
        if not isinstance(values, list):
            return
        for i, item in enumerate(values):
            if not self.is_broken((key, i)):
                yield i, item

    def value(self, key: str) -> Any:
        """A structurally sound top-level value, or None."""
        return None if self.is_broken((key,)) else self.doc.data.get(key)

    def error(self, path: PathKey, message: str) -> None:
        self.diags.error(self.doc.pos(path), message, format_path(path))

    def warning(self, path: PathKey, message: str) -> None:
        self.diags.warning(self.doc.pos(path), message, format_path(path))

    def time(self, path: PathKey, value: Any) -> dt.datetime | None:
        """An absolute or relative time, resolved; None (with an error) when it cannot be.

        A chain of relative times (`1 day after 3.1.2`, whose 3.1.2 is relative too, …)
        is followed with a loop, never recursion: any length of chain is fine."""
        if path in self.resolved:
            return self.resolved[path]
        chain = [(path, value)]
        in_chain = {path}
        while True:  # collect the unresolved anchors, nearest first
            rule = schedule.parse_relative(chain[-1][1]) if isinstance(chain[-1][1], str) else None
            if rule is None or rule.anchor not in self.milestone_starts:
                break
            anchor_path, anchor_text = self.milestone_starts[rule.anchor]
            if anchor_path in self.resolved or anchor_path in in_chain:
                break
            chain.append((anchor_path, anchor_text))
            in_chain.add(anchor_path)
        for here, text in reversed(chain):  # then resolve from the far end back
            in_chain.discard(here)
            self.resolved[here] = self._resolve(here, text, in_chain)
        return self.resolved[path]

    def _resolve(self, path: PathKey, value: Any, waiting: set[PathKey]) -> dt.datetime | None:
        """`value` at `path`, its anchor already resolved unless it is one of `waiting`
        (the times that wait for this one: a cycle)."""
        rule = schedule.parse_relative(value)
        if rule is None:
            try:
                return schedule.parse_local(value)
            except schedule.TimeProblem as exc:
                self.error(path, str(exc))
                return None
        self.rules[path] = rule
        if rule.anchor == "go_live":
            anchor = self.go_live
            if anchor is None:
                return None  # go_live itself is wrong, and reported
        else:
            if rule.anchor not in self.milestone_starts:
                _unknown(self, path, "milestone", rule.anchor, self.milestone_starts)
                return None
            anchor_path, _anchor_text = self.milestone_starts[rule.anchor]
            if anchor_path in waiting or anchor_path == path:
                self.error(path, f"'{value}' depends on itself through milestone {rule.anchor}")
                return None
            anchor = self.resolved.get(anchor_path)
            if anchor is None:
                return None
        try:
            return rule.resolve(anchor, self.calendar)
        except schedule.TimeProblem as exc:
            self.error(path, str(exc))
            return None

    def rule(self, path: PathKey) -> str:
        """The relative rule written at `path`, in Dutch, or ""."""
        found = self.rules.get(path)
        return found.dutch() if found else ""

    def date(self, path: PathKey, value: Any) -> dt.date | None:
        try:
            return schedule.parse_date(value)
        except schedule.TimeProblem as exc:
            self.error(path, str(exc))
            return None


def load_runbook(path: Path, display: str | None = None) -> tuple[Runbook, Diagnostics]:
    """Load, check and build one runbook. Raises InvalidRunbook with every error found;
    returns the warnings along with the runbook."""
    diags = Diagnostics()
    doc = load_file(path, diags, display)
    if not diags.errors and not isinstance(doc.data, dict):
        diags.error(doc.pos(()), "a runbook is a mapping of keys (id, title, phases, ...)")
    diags.raise_if_errors()
    check(doc, RUNBOOK_SCHEMA, diags)
    ctx = _Ctx(doc, diags)
    ctx.broken = {d.path for d in diags.errors}
    _load_shared(ctx, path, display)
    runbook = _build(ctx)
    diags.raise_if_errors()
    assert runbook is not None  # errors above would have raised
    return runbook, Diagnostics(diags.warnings)


def _load_shared(ctx: _Ctx, path: Path, display: str | None) -> None:
    """The shared files of `uses`: each read once, and only as `load.shared_path` allows.
    A shared file's problems name its keys, never its values beyond the offending key."""
    seen: dict[Path, list[int]] = {}
    listed: dict[str, list[int]] = {}
    for i, ref in ctx.items("uses"):
        listed.setdefault(ref, []).append(i)
    for ref, places in listed.items():  # each entry checked and reported once
        i = places[0]
        if len(places) > 1:
            ctx.error(("uses", places[1]), f"shared file '{ref}' is listed {len(places)} times")
        shown = str(Path(display).parent / ref) if display else str(path.parent / ref)
        try:
            shared_path = shared_path_of(path, ref)
        except SharedPathError as exc:
            ctx.error(("uses", i), f"shared file '{ref}' {exc}")
            continue
        if shared_path in seen:
            ctx.error(("uses", i), f"shared file '{ref}' is the same file as an earlier entry")
            continue
        seen[shared_path] = places
        sub = Diagnostics()
        shared = load_file(shared_path, sub, shown)
        if not sub.errors and not isinstance(shared.data, dict):
            sub.error(shared.pos(()), "a shared file is a mapping with roles, messages, contacts")
        if not sub.errors:
            check(shared, SHARED_SCHEMA, sub, echo=False)
        ctx.diags.extend(sub)
        if sub.errors:
            continue
        _collect_shared(ctx, shared)


def _collect_shared(ctx: _Ctx, shared: Document) -> None:
    for i, role in enumerate(shared.data.get("roles", [])):
        if role["id"] in ctx.roles:
            ctx.diags.error(shared.pos(("roles", i, "id")), f"role '{role['id']}' defined twice")
        ctx.roles[role["id"]] = Role(role["id"], role["name"], role.get("description", ""))
    for i, msg in enumerate(shared.data.get("messages", [])):
        if msg["code"] in ctx.messages:
            ctx.diags.error(shared.pos(("messages", i, "code")), f"message {msg['code']} twice")
        ctx.messages[msg["code"]] = Message(
            msg["code"], msg["name"], msg.get("kind", ""), msg.get("sender", "")
        )
    for i, contact in enumerate(shared.data.get("contacts", [])):
        if contact["id"] in ctx.contacts:
            ctx.diags.error(shared.pos(("contacts", i, "id")), f"contact '{contact['id']}' twice")
        ctx.contacts[contact["id"]] = _contact(contact)


def _contact(data: dict[str, Any], base: Contact | None = None) -> Contact:
    fields: dict[str, Any] = dict(base.__dict__) if base else {}
    for key, value in data.items():
        if key == "ref":
            continue
        if key in ("visit_address", "postal_address"):
            value = tuple(value)
        if key == "channels":
            value = tuple(
                Channel(c["email"], c.get("audience", ""), c.get("note", "")) for c in value
            )
        fields[key] = value
    return Contact(**fields)


def _build(ctx: _Ctx) -> Runbook | None:
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
    versions = tuple(
        Version(v["version"], d, v.get("note", ""))
        for i, v in ctx.items("versions")
        if (d := ctx.date(("versions", i, "date"), v["date"])) is not None
    )
    day = ctx.date(("date",), ctx.value("date")) if ctx.value("date") else None
    _validate_phase_order(ctx, phases)
    if go_live is not None:
        _validate_go_live_starts_last_phase(ctx, phases, go_live)
    _validate_milestones_on_working_days(ctx, milestones)
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
        goal=Block(goal["text"]) if "text" in goal else None,
        goal_sections=tuple(_block(b) for b in goal.get("sections", [])),
        principles=tuple(_block(b) for b in data.get("principles", [])),
        refresh=data.get("feed", {}).get("refresh", "PT12H"),
        calendar=ctx.calendar,
        uses=tuple(ctx.value("uses") or ()),
        reminders=_build_reminders(ctx),
        id_line=ctx.doc.pos(("id",)).line,
    )


def _leads(ctx: _Ctx, path: PathKey, values: list[str]) -> tuple[Lead, ...]:
    """Lead times in order, each once; the schema has checked their form, this their size."""
    leads = []
    for j, value in enumerate(values):
        lead = parse_lead(value)
        if lead is None:
            ctx.error((*path, j), f"lead time '{value}' is more than a year: not a reminder")
        else:
            leads.append(lead)
    return tuple(dict.fromkeys(leads))


def _build_reminders(ctx: _Ctx) -> ReminderPolicy:
    """Lead times by runbook, role and kind of event (calgen.reminders)."""
    spec = ctx.value("reminders") or {}
    for role in spec.get("roles", {}):
        if role not in ctx.roles:
            _unknown(ctx, ("reminders", "roles", role), "role", role, ctx.roles)
    where: PathKey = ("reminders",)
    return ReminderPolicy(
        default=_leads(ctx, (*where, "default"), spec["default"]) if "default" in spec else None,
        roles={r: _leads(ctx, (*where, "roles", r), v) for r, v in spec.get("roles", {}).items()},
        kinds={k: _leads(ctx, (*where, "kinds", k), v) for k, v in spec.get("kinds", {}).items()},
        office_hours=_office_hours(ctx, (*where, "office_hours"), spec),
    )


def _office_hours(ctx: _Ctx, path: PathKey, spec: dict[str, Any]) -> OfficeHours | None:
    """`reminders.office_hours` (calgen.reminders): default 08:00-18:00."""
    if "office_hours" not in spec:
        return OFFICE_HOURS
    try:
        return parse_office_hours(spec["office_hours"])
    except ValueError as exc:
        ctx.error(path, str(exc))
        return OFFICE_HOURS


def _build_calendar(ctx: _Ctx) -> schedule.WorkCalendar:
    """The runbook's working days: named holidays counted as working, closures added."""
    spec = ctx.value("working_days") or {}
    if spec.get("count_as_working"):
        known = schedule.all_holiday_names()  # many years of holidays: only when needed
        for j, name in enumerate(spec["count_as_working"]):
            if name not in known:
                _unknown(ctx, ("working_days", "count_as_working", j), "holiday", name, known)
    closures = []
    for j, closure in enumerate(spec.get("closures", [])):
        day = ctx.date(("working_days", "closures", j, "date"), closure["date"])
        if day is not None:
            closures.append((day, closure["reason"]))
    return schedule.WorkCalendar(frozenset(spec.get("count_as_working", [])), tuple(closures))


def _block(data: dict[str, Any]) -> Block:
    return Block(
        text=data.get("text", ""),
        title=data.get("title", ""),
        number=data.get("number", ""),
        contacts=tuple(data.get("contacts", [])),
    )


def _build_contacts(ctx: _Ctx) -> dict[str, Contact]:
    """A runbook's contacts: shared ones by id, optionally with fields that differ."""
    out: dict[str, Contact] = {}
    for i, entry in ctx.items("contacts"):
        ref = entry if isinstance(entry, str) else entry["ref"]
        path: PathKey = ("contacts", i) if isinstance(entry, str) else ("contacts", i, "ref")
        if ref not in ctx.contacts:
            _unknown(ctx, path, "contact", ref, ctx.contacts)
            continue
        base = ctx.contacts[ref]
        out[ref] = base if isinstance(entry, str) else _contact(entry, base)
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
                _unknown(ctx, (key, i, "contacts", j), "contact", ref, ctx.contacts)
    return out


def _unknown(ctx: _Ctx, path: PathKey, what: str, value: str, known: Iterable[str]) -> None:
    known = sorted(known)
    guess = difflib.get_close_matches(value, known, n=1)
    suggestion = f"; did you mean '{guess[0]}'?" if guess else ""
    listing = ", ".join(known) if known else f"none: is the shared {what}s file in `uses`?"
    ctx.error(path, f"unknown {what} '{value}'{suggestion} (known: {listing})")


def _build_phases(ctx: _Ctx) -> list[Phase]:
    phases = []
    for i, p in ctx.items("phases"):
        start = ctx.time(("phases", i, "start"), p["start"])
        end = ctx.time(("phases", i, "end"), p["end"])
        if start and end and end <= start:
            ctx.error(("phases", i, "end"), f"phase '{p['id']}' ends before it starts")
        if start and end:
            phases.append(
                Phase(
                    p["id"],
                    i + 1,
                    p["title"],
                    start,
                    end,
                    p.get("summary", ""),
                    p.get("text", ""),
                    p.get("end_note", ""),
                )
            )
    return phases


def _validate_phase_order(ctx: _Ctx, phases: list[Phase]) -> None:
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
    for i, (before, after) in enumerate(zip(phases, phases[1:], strict=False)):
        if after.start < before.end:
            ctx.error(
                ("phases", i + 1, "start"),
                f"phase '{after.id}' starts before phase '{before.id}' ends",
            )


def _validate_go_live_starts_last_phase(
    ctx: _Ctx, phases: list[Phase], go_live: dt.datetime
) -> None:
    """Go-live is the moment phase 3 (ingebruikname) begins."""
    last = [p for p in phases if p.id == "ingebruikname"]
    if last and last[0].start != go_live:
        ctx.error(("go_live",), "go_live must be the start of phase 'ingebruikname'")


def _build_sections(ctx: _Ctx, contacts: dict[str, Contact]) -> dict[str, Section]:
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


def _inform(ctx: _Ctx, path: PathKey, value: str | list[str]) -> frozenset[str]:
    if isinstance(value, str):  # the schema admits only "all"
        return frozenset(ctx.roles)
    _validate_roles_known(ctx, path, value)
    return frozenset(value)


def _validate_roles_known(ctx: _Ctx, path: PathKey, roles: list[str]) -> None:
    """Every role id names a role from the shared roles file."""
    seen: set[str] = set()
    for j, role in enumerate(roles):
        if role not in ctx.roles:
            _unknown(ctx, (*path, j), "role", role, ctx.roles)
        elif role in seen:
            ctx.error((*path, j), f"role '{role}' is listed twice")
        seen.add(role)


def _build_milestones(ctx: _Ctx, sections: dict[str, Section]) -> list[Milestone]:
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
    ctx: _Ctx, path: PathKey, item: dict[str, Any], allow_date: bool
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


_CODE = re.compile(r"^(?:WMO|JW)?(\d{3})$")


def _messages(ctx: _Ctx, path: PathKey, codes: list[str]) -> tuple[MessageRef, ...]:
    """Every code is in the shared message catalogue ('WMO315' means catalogue 315)."""
    refs = []
    for j, written in enumerate(codes):
        match = _CODE.match(written)
        if not match:
            continue  # the schema already reported its form
        message = ctx.messages.get(match.group(1))
        if message is None:
            _unknown(ctx, (*path, j), "message code", written, ctx.messages)
            continue
        refs.append(MessageRef(written, message))
    return tuple(refs)


def _build_events(ctx: _Ctx) -> list[Event]:
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
                e["id"],
                e["title"],
                tuple(e["roles"]),
                e.get("text", ""),
                day,
                start,
                end,
                _leads(ctx, (*path, "reminders"), e["reminders"]) if "reminders" in e else None,
            )
        )
    return out


def _validate_milestones_on_working_days(ctx: _Ctx, milestones: list[Milestone]) -> None:
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
            kind = "public holiday" if schedule.holiday_name(moment.date()) == reason else "closure"
            name = "" if reason == weekday else f", {reason} ({kind})"
            ctx.warning(
                ("milestones", index[m.id], key),
                f"milestone {m.id} falls on a non-working day: {weekday} {moment:%Y-%m-%d}{name}",
            )


def load_many(paths: Iterable[Path]) -> tuple[list[Runbook], Diagnostics]:
    """Load several runbooks; every file's problems are collected before raising."""
    diags = Diagnostics()
    runbooks = []
    for path in paths:
        try:
            runbook, warnings = load_runbook(path)
        except InvalidRunbook as exc:
            diags.extend(exc.diagnostics)
            continue
        diags.extend(warnings)
        runbooks.append(runbook)
    ids: dict[str, str] = {}
    for rb in runbooks:
        if rb.id in ids:
            diags.error(
                Pos(rb.source, rb.id_line, 5), f"runbook id '{rb.id}' is also used by {ids[rb.id]}"
            )
        ids[rb.id] = rb.source
    return runbooks, diags
