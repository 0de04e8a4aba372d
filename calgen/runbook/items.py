"""The one list of what a runbook schedules: its phases, milestones and dated facts, each
with its kind, UID, label, audience, own lead times and link.

Feeds (calgen.render.ical.feeds), pages (calgen.render.page.document) and e-mail
(calgen.notify.due) all read it, so an item is named, dated and addressed the same
everywhere. The labels are Dutch because every reader of them is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from calgen.core import dutch, layout
from calgen.core.reminders import Kind, Lead
from calgen.runbook.model import Event, Milestone, Phase, Runbook

# the kind of item in its UID (`mijlpaal-3.1.2.<runbook>@calgen`): fixed forever
_UID_KIND = {Kind.PHASE: "fase", Kind.DEADLINE: "mijlpaal", Kind.PERIOD: "mijlpaal"}


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduledItem:
    """A phase, milestone or dated fact, as every output names and dates it."""

    kind: Kind
    ref: str  # its id in e-mail and the notify queue: `3.1.2`, `fase-afsluiting`, `datum-kto`
    uid: str  # its feed event's UID (calgen.core.layout.uid)
    title: str  # `Fase 1: afsluiting`, `3.1.2 Alle heenberichten verzonden … (305, 307)`
    start: dt.datetime
    end: dt.datetime | None
    audience: frozenset[str]  # the roles whose feeds and mail carry it
    own: tuple[Lead, ...] | None  # its own lead times; None: the runbook's
    link: str  # a milestone's row on the published page; "" otherwise or without a base URL
    source: Phase | Milestone | Event


# What a concept (a runbook whose newest version is one) says wherever it is shown: its
# page and the index carry the banner, its own feeds' events and names the prefix.
CONCEPT_BANNER = "Concept — nog niet vastgesteld"
CONCEPT_PREFIX = "Concept: "


def concept_banner(runbook: Runbook) -> str:
    """`Concept — nog niet vastgesteld (versie 0.1 van 1 december 2026)`; "" when the
    runbook is final."""
    current = runbook.current
    if current is None or not runbook.is_concept:
        return ""
    return f"{CONCEPT_BANNER} (versie {current.version} van {dutch.date_plain(current.date)})"


def anchor(milestone_id: str) -> str:
    """Stable anchor of a milestone's row on its page, `m-3.1.2`: the page's row id and
    the fragment of the feeds' and e-mails' links to it."""
    return f"m-{milestone_id}"


def phase_label(phase: Phase) -> str:
    return f"Fase {phase.number}: {phase.title}"


def summary(milestone: Milestone) -> str:
    """`3.1.2 Alle heenberichten verzonden door aanbieders (305, 307, 315, 317)`"""
    codes = ", ".join(ref.written for ref in milestone.messages)
    return f"{milestone.id} {milestone.title}" + (f" ({codes})" if codes else "")


def event_title(milestone: Milestone) -> str:
    """A milestone's title in calendars and e-mail: its summary, and for a deadline whose
    time the runbook words itself, those words, so that a calendar showing the title at
    that time tells a deadline from an appointment:
    `4.1.2 Ketentest met Wmo-release 2.2-berichten (voor uiterlijk 13.00 uur)`."""
    words = milestone.time_label
    if milestone.end is not None or not words:
        return summary(milestone)
    return f"{summary(milestone)} ({words[0].lower()}{words[1:]})"


def actionholder(runbook: Runbook, milestone: Milestone) -> str:
    """The Actiehouder column: as the runbook writes it, else the roles' names."""
    if milestone.actionholder:
        return milestone.actionholder
    return ", ".join(runbook.role(r).name for r in milestone.roles)


def milestone_link(base_url: str, runbook: Runbook, milestone_id: str) -> str:
    """The milestone's row on the published page; "" without a base URL."""
    folder = layout.runbook_url(base_url, runbook.id)
    return f"{folder}#{anchor(milestone_id)}" if folder else ""


def scheduled_items(runbook: Runbook, base_url: str = "") -> list[ScheduledItem]:
    """Every phase, then every milestone, then every dated fact, in the runbook's order.
    A concept's titles say so (`Concept: 3.1.2 …`)."""
    every = frozenset(r.id for r in runbook.roles)
    prefix = CONCEPT_PREFIX if runbook.is_concept else ""
    out = [
        ScheduledItem(
            kind=Kind.PHASE,
            ref=f"fase-{p.id}",
            uid=layout.uid(runbook.id, _UID_KIND[Kind.PHASE], p.id),
            title=prefix + phase_label(p),
            start=p.start,
            end=p.end,
            audience=every,
            own=None,
            link="",
            source=p,
        )
        for p in runbook.phases
    ]
    out += [
        ScheduledItem(
            kind=m.kind,
            ref=m.id,
            uid=layout.uid(runbook.id, _UID_KIND[m.kind], m.id),
            title=prefix + event_title(m),
            start=m.start,
            end=m.end,
            audience=m.audience,
            own=m.reminders,
            link=milestone_link(base_url, runbook, m.id),
            source=m,
        )
        for m in runbook.milestones
    ]
    out += [
        ScheduledItem(
            kind=Kind.EVENT,
            ref=f"datum-{e.id}",
            uid=layout.uid(runbook.id, "datum", e.id),
            title=prefix + e.title,
            start=e.moment,
            end=e.end,
            audience=frozenset(e.roles),
            own=e.reminders,
            link="",
            source=e,
        )
        for e in runbook.events
    ]
    return out
