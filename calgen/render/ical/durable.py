"""Durable feeds: one URL per role that every new runbook appears in by itself.

A subscriber keeps a feed URL for years. The per-runbook feeds (`<runbook id>/<role>.ics`)
end with their migration; the durable feeds at the root of the site carry the events of
every runbook in the retention window:

- `<role>.ics` and `alles.ics` (every role): the runbooks in the window of any standard;
- `<standard>/<role>.ics` and `<standard>/alles.ics` (`iwmo/`, `ijw/`): only the runbooks
  that name that standard in `standards`.

Retention depends on the runbooks only, never on the clock, so a build stays
byte-identical as time passes: per standard, the `KEEP` runbooks with the latest go-live
(runbooks without `standards` form one group of their own). A runbook that leaves the
window leaves the feed; calgen.render.ical.revise then publishes its events as CANCELLED, a
deletion the subscriber's client performs.

No event is serialized here: a durable feed is the events of the per-runbook feeds of
the same role (calgen.render.ical.feeds, alarms included), byte for byte, one runbook after the
other by go-live, behind one calendar head and one VTIMEZONE. An added runbook therefore
adds events and changes no earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from calgen.core import layout
from calgen.core.layout import EVERY_ROLE
from calgen.render.ical.feeds import PRODID, calendar_head
from calgen.render.ical.vtimezone import VTIMEZONE
from calgen.runbook.model import Runbook

KEEP = 3  # runbooks per standard, by latest go-live
_COUNT = {2: "twee", 3: "drie", 4: "vier", 5: "vijf"}


@dataclass(frozen=True, kw_only=True)
class DurableFeed:
    path: str  # relative to the output folder: `gemeenten.ics`, `ijw/alles.ics`
    role: str  # a role id, or EVERY_ROLE
    role_name: str  # `Gemeenten`, `Alle rollen`
    standard: str  # as the runbooks write it (`iJw`), or "" for the root set
    standards: str  # what the feed covers, for its name: `iWmo en iJw`, `iJw`
    runbooks: tuple[str, ...]  # ids of the runbooks it carries, oldest go-live first


def _newest_first(runbooks: Iterable[Runbook]) -> list[Runbook]:
    return sorted(runbooks, key=lambda rb: (rb.go_live, rb.id), reverse=True)


def windows(runbooks: Sequence[Runbook], keep: int = KEEP) -> dict[str, list[Runbook]]:
    """The retention window of each standard (by slug; "" for runbooks naming none):
    its `keep` runbooks with the latest go-live, oldest first."""
    groups: dict[str, list[Runbook]] = {}
    for rb in _newest_first(runbooks):  # standards in the order the newest runbook names them
        slugs = [layout.standard_folder(s) for s in rb.standards]
        for slug in dict.fromkeys(s for s in slugs if s) or [""]:
            groups.setdefault(slug, []).append(rb)
    return {slug: found[:keep][::-1] for slug, found in groups.items()}


def plan(runbooks: Sequence[Runbook], keep: int = KEEP) -> tuple[DurableFeed, ...]:
    """Every durable feed of this set of runbooks: the root set first, then one set per
    standard; within a set `alles.ics` first, then the roles in the order the newest
    runbook lists them. A concept is for reviewers: it is in no durable feed (nor does it
    push a final runbook out of a window) until a final version of it is built."""
    runbooks = [rb for rb in runbooks if not rb.is_concept]
    if not runbooks:
        return ()
    found = windows(runbooks, keep)
    kept = {rb.id: rb for group in found.values() for rb in group}
    sets: list[tuple[str, str, list[Runbook]]] = [
        ("", "", sorted(kept.values(), key=lambda rb: (rb.go_live, rb.id)))
    ]
    for slug, group in found.items():
        if slug:
            written = next(s for s in group[-1].standards if layout.standard_folder(s) == slug)
            sets.append((slug, written, group))
    every = [written for slug, written, _ in sets if slug]
    root_label = (
        " en ".join(every) if len(every) < 3 else ", ".join(every[:-1]) + " en " + every[-1]
    )
    out = []
    for slug, standard, group in sets:
        roles: dict[str, str] = {}
        for rb in reversed(group):  # the newest runbook's names and order win
            for known in rb.roles:
                roles.setdefault(known.id, known.name)
        ids = tuple(rb.id for rb in group)
        for role, name in [(EVERY_ROLE, "Alle rollen"), *roles.items()]:
            out.append(
                DurableFeed(
                    path=layout.durable_file(slug, role),
                    role=role,
                    role_name=name,
                    standard=standard,
                    standards=standard or root_label,
                    runbooks=ids,
                )
            )
    return tuple(out)


def calendar_name(feed: DurableFeed) -> str:
    what = f" {feed.standards}" if feed.standards else ""
    return f"Landelijke draaiboeken migratie{what} ({feed.role_name})"


def calendar_description(feed: DurableFeed, newest: Runbook) -> str:
    who = "" if feed.role == EVERY_ROLE else f" voor {feed.role_name.lower()}"
    what = f" {feed.standards}" if feed.standards else ""
    which = f"{feed.standard}-draaiboeken" if feed.standard else "draaiboeken per standaard"
    return (
        f"Fasen en mijlpalen uit de landelijke draaiboeken migratie{what}{who}. "
        f"Deze agenda bevat de {_COUNT.get(KEEP, KEEP)} nieuwste {which} (naar datum van "
        "go-live); een nieuw "
        f"draaiboek verschijnt er vanzelf in. Nieuwste: {newest.title}."
    )


def iter_durable(
    feeds: Sequence[DurableFeed],
    runbooks: Sequence[Runbook],
    bodies: Mapping[tuple[str, str], Sequence[bytes]],
    prodid: str = PRODID,
) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each durable feed. `bodies[(runbook id, role or ALL)]` holds the
    events of that runbook's feed for that role, one bytes object per event, as
    calgen.render.ical.feeds.feed_parts made them."""
    by_id = {rb.id: rb for rb in runbooks}
    for feed in feeds:
        newest = by_id[feed.runbooks[-1]]
        role = layout.ALL if feed.role == EVERY_ROLE else feed.role
        yield (
            feed.path,
            b"".join(
                [
                    calendar_head(
                        newest, calendar_name(feed), calendar_description(feed, newest), prodid
                    ),
                    VTIMEZONE,
                    *(part for rb_id in feed.runbooks for part in bodies.get((rb_id, role), ())),
                    b"END:VCALENDAR\r\n",
                ]
            ),
        )
