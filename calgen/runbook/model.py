"""Frozen domain objects: what a checked runbook is.

Nothing here reads files or checks input: :mod:`calgen.runbook.validate` builds these objects from
a loaded runbook, after every check has passed. Every type is a frozen, keyword-only
dataclass with slots.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from calgen.core import schedule
from calgen.core.reminders import Kind, Lead, ReminderPolicy
from calgen.runbook.schema import FINAL

PHASE_ORDER = ("afsluiting", "transitie", "ingebruikname")


@dataclass(frozen=True, kw_only=True, slots=True)
class Role:
    id: str
    name: str
    description: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    code: str
    name: str
    kind: str = ""
    sender: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageRef:
    """A code as the runbook writes it ('WMO315') and the catalogue entry it means."""

    written: str
    message: Message


@dataclass(frozen=True, kw_only=True, slots=True)
class Channel:
    email: str
    audience: str = ""
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
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


@dataclass(frozen=True, kw_only=True, slots=True)
class Block:
    """A piece of prose: optional heading and number, Markdown text, contacts after it."""

    text: str
    title: str = ""
    number: str = ""
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Version:
    version: str
    date: dt.date
    note: str = ""
    status: str = FINAL  # CONCEPT or FINAL
    line: int = 0  # where the row is written, for messages about it
    col: int = 0

    @property
    def is_final(self) -> bool:
        return self.status == FINAL


@dataclass(frozen=True, kw_only=True, slots=True)
class Phase:
    id: str
    number: int
    title: str
    start: dt.datetime
    end: dt.datetime
    summary: str = ""
    text: str = ""
    end_note: str = ""  # why the end is what it is, when the runbook gives no end date


@dataclass(frozen=True, kw_only=True, slots=True)
class Section:
    number: str
    phase: str
    title: str = ""
    text: str = ""
    inform: frozenset[str] = frozenset()
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
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
    def kind(self) -> Kind:
        return Kind.PERIOD if self.end is not None else Kind.DEADLINE

    @property
    def is_period(self) -> bool:
        return self.end is not None


@dataclass(frozen=True, kw_only=True, slots=True)
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


@dataclass(frozen=True, kw_only=True, slots=True)
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
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    id_line: int = 1  # where the id is written, for messages about it
    calendar: schedule.WorkCalendar = field(default_factory=schedule.WorkCalendar)

    # lookups by id, made once (slots leave no room for cached_property)
    _roles_by_id: dict[str, Role] = field(init=False, repr=False, compare=False)
    _contacts_by_id: dict[str, Contact] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_roles_by_id", {r.id: r for r in self.roles})
        object.__setattr__(self, "_contacts_by_id", {c.id: c for c in self.contacts})

    def role(self, role_id: str) -> Role:
        return self._roles_by_id[role_id]

    def contact(self, contact_id: str) -> Contact:
        return self._contacts_by_id[contact_id]

    @property
    def current(self) -> Version | None:
        """The newest row of the version table (the first), or None without one."""
        return self.versions[0] if self.versions else None

    @property
    def is_concept(self) -> bool:
        """Whether the newest version is a concept: then the runbook is a preview for
        reviewers only, kept out of the subscribe-once feeds and out of e-mail. A runbook
        without a version table is final (the 2018 seed has none)."""
        return self.current is not None and not self.current.is_final

    def previous_final(self) -> Version | None:
        """The newest final version below the current one: what a new version changes."""
        return next((v for v in self.versions[1:] if v.is_final), None)

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
