"""What a reminder is about, and which reminders are due at a moment.

The moments come from calgen.core.reminders (the feeds' lead times), so a change there reaches
e-mail without a change here. Which reminders a run sends, at moment `at`:
- due: its moment has come (`trigger <= at`) and it was not queued, sent or expired before;
- late: due for more than LATE_AFTER when first seen (cron did not run): sent once,
  marked late in subject and text, and counted there (`2 van 4 te laat`);
- expired: its event ended more than `expire` ago: not sent (a 2018 deadline helps
  nobody), but reported and recorded, so it is never silently dropped nor repeated.

What an item is, as a subject and body count it (`2 mijlpalen, 1 fase en 1 advies`):
a numbered milestone (deadline or period) is a *mijlpaal*, a phase a *fase*, a dated fact
whose title begins with "Advies" an *advies*, any other dated fact a *gebeurtenis*.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from calgen.core.reminders import Kind, Lead
from calgen.runbook.items import actionholder, scheduled_items
from calgen.runbook.model import Event, Milestone, Runbook

LATE_AFTER = dt.timedelta(hours=6)
DEFAULT_EXPIRE = dt.timedelta(days=14)

# What an item is, in Dutch: singular and plural, in the order a subject counts them.
NOUNS: dict[str, tuple[str, str]] = {
    "mijlpaal": ("mijlpaal", "mijlpalen"),
    "fase": ("fase", "fasen"),
    "advies": ("advies", "adviezen"),
    "gebeurtenis": ("gebeurtenis", "gebeurtenissen"),
}
_ADVICE = re.compile(r"advies\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Item:
    """Something a reminder is about: a phase, a milestone or a dated fact."""

    runbook: Runbook
    kind: Kind
    id: str  # milestone number, `fase-afsluiting`, `datum-kto`
    title: str
    start: dt.datetime
    end: dt.datetime | None
    audience: frozenset[str]
    own: tuple[Lead, ...] | None
    description: str = ""
    actionholder: str = ""
    messages: tuple[str, ...] = ()
    link: str = ""  # the milestone's row on the page (from the base URL only)
    noun: str = "mijlpaal"  # what it is, a key of NOUNS


@dataclass(frozen=True, kw_only=True, slots=True)
class Due:
    item: Item
    lead: Lead
    trigger: dt.datetime
    late: bool

    @property
    def over(self) -> dt.datetime:
        return self.item.end or self.item.start


def items(runbook: Runbook, base_url: str) -> list[Item]:
    """What reminders can be about, from the runbook's one list (calgen.runbook.items)."""
    out = []
    for found in scheduled_items(runbook, base_url):
        description, holder, messages = _details(runbook, found.source)
        out.append(
            Item(
                runbook=runbook,
                kind=found.kind,
                id=found.ref,
                title=found.title,
                start=found.start,
                end=found.end,
                audience=found.audience,
                own=found.own,
                description=description,
                actionholder=holder,
                messages=messages,
                link=found.link,
                noun=noun(found.kind, found.source),
            )
        )
    return out


def noun(kind: Kind, source: object) -> str:
    """What an item is, a key of NOUNS: `mijlpaal` (a deadline or a period), `fase`,
    `advies` (a dated fact whose title begins with "Advies") or `gebeurtenis`."""
    if kind in (Kind.DEADLINE, Kind.PERIOD):
        return "mijlpaal"
    if kind == Kind.PHASE:
        return "fase"
    title = source.title if isinstance(source, Event) else ""
    return "advies" if _ADVICE.match(title.lstrip()) else "gebeurtenis"


def counted(nouns: Sequence[str]) -> list[tuple[int, str]]:
    """How many of each kind, in NOUNS' order: `[(2, "2 mijlpalen"), (1, "1 fase")]`."""
    out = []
    for key, (one, many) in NOUNS.items():
        n = sum(1 for x in nouns if x == key)
        if n:
            out.append((n, f"{n} {one if n == 1 else many}"))
    return out


def _details(runbook: Runbook, source: object) -> tuple[str, str, tuple[str, ...]]:
    """A reminder's text, action holder and messages (`305 Start zorg`), where it has them."""
    if isinstance(source, Milestone):
        messages = tuple(f"{r.written} {r.message.name}" for r in source.messages)
        return source.description or source.title, actionholder(runbook, source), messages
    if isinstance(source, Event):
        return source.text, "", ()
    return "", "", ()


def moments(
    runbook: Runbook, candidates: Sequence[Item], role: str
) -> Iterator[tuple[Item, Lead, dt.datetime]]:
    """Every reminder of `role`: its item, lead time and moment (the feeds' lead times)."""
    for item in candidates:
        if role in item.audience:
            for lead in runbook.reminders.leads(item.kind, role, item.own):
                yield item, lead, lead.trigger(item.start, runbook.calendar)


def role_dues(
    runbook: Runbook, candidates: Sequence[Item], role: str, at: dt.datetime
) -> Iterator[Due]:
    """Every reminder of `role` whose moment has come by `at`, in a stable order."""
    found = [
        Due(item=item, lead=lead, trigger=trigger, late=at - trigger > LATE_AFTER)
        for item, lead, trigger in moments(runbook, candidates, role)
        if trigger <= at
    ]
    found.sort(key=lambda d: (d.item.start, d.item.id, d.lead.key))
    return iter(found)
