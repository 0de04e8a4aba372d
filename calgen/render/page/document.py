"""The runbook as a document: one typed context, rendered to HTML and Markdown by Jinja.

The context is built here, in Python, so that the templates only lay out what they are
given: dates are already in Dutch, rows already filtered for a role, anchors already made.
The chapter order follows the published runbooks: introduction, 1 Doel, 2 Uitgangspunten,
then one chapter per phase with its numbered sections and schedule tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import jinja2
import markupsafe

from calgen.core import dutch, layout
from calgen.render.ical.durable import DurableFeed
from calgen.render.page.timeline import Timeline, build_timeline, select_lane
from calgen.runbook.items import CONCEPT_BANNER, actionholder, anchor, phase_label, summary
from calgen.runbook.model import Contact, Milestone, Phase, Runbook, Section


@dataclass(frozen=True, kw_only=True)
class Row:
    id: str
    anchor: str
    summary: str
    description: str  # Markdown
    notes: tuple[str, ...]
    date: str  # `woensdag 30 maart 2022`, or a range of days
    time: str  # `17.00 uur`, `14.00 - 23.00 uur`, `13.00 uur – 13.00 uur`
    rule: str  # how the time was planned, when relative: `3 werkdagen vóór go-live`
    actionholder: str
    roles: frozenset[str]
    messages: tuple[str, ...]
    period: bool = False  # a period (start and end), not a deadline
    start: str = ""  # its instant, for the script that marks "nu" and "volgende" (`instant`)
    end: str = ""  # a period's end instant, "" for a deadline
    soon: str = ""  # date and time on the first screen: `woensdag 30 maart, 17.00 uur`


def instant(moment: dt.datetime) -> str:
    """An instant as the page's script reads it (`data-start`) and <time datetime>:
    ISO 8601 with its offset, `2022-03-30T17:00+02:00`."""
    return moment.isoformat(timespec="minutes")


@dataclass(frozen=True, kw_only=True)
class SectionView:
    number: str
    title: str
    text: str
    rows: tuple[Row, ...]
    contacts: tuple[Contact, ...]
    rows_html: str = ""  # the rows' <tr>s, made once per runbook and joined for this view
    holders: str = "Actiehouder"  # the heading of the action holders' column


# The action holders' column heading as both published runbooks print it: "Actiehouder"
# over the tables of chapter 3 (fase 1: 3.1, 3.2, 3.3), "Actie houders" over chapter 4's
# (fase 2, the transition's table 4.1).
HOLDERS_HEADING = {"transitie": "Actie houders"}


@dataclass(frozen=True, kw_only=True)
class Chapter:
    number: int
    title: str
    text: str
    phase: Phase
    sections: tuple[SectionView, ...]


@dataclass(frozen=True, kw_only=True)
class Feed:
    role: str  # a role id, or "all"
    name: str  # Dutch name for people
    file: str  # `gemeenten.ics`
    https: str  # download link (relative when no base URL)
    webcal: str  # subscribe link ("" without a base URL)
    page: str  # the per-role view of the page

    @property
    def url_parts(self) -> tuple[str, ...]:
        """The https address in pieces a line may break between (after `//` and each
        `/`): shown as text to copy, it then wraps at its slashes, not mid-word."""
        scheme, _, rest = self.https.partition("//")
        pieces = rest.split("/")
        return (f"{scheme}//{pieces[0]}/", *(p + "/" for p in pieces[1:-1]), pieces[-1])


@dataclass(frozen=True, kw_only=True)
class RoleView:
    id: str
    name: str
    page: str


@dataclass(frozen=True, kw_only=True)
class NarrowPhase:
    """A phase in the timeline as a list (phones): its marks, in time order."""

    label: str  # `Fase 1: afsluiting`
    css: str  # the phase id, for its colour
    when: str  # the phase's period in Dutch
    items_html: str  # the marks' <li>s, each made once per runbook
    derived: str = ""  # why its end is what it is, when the runbook gives none


@dataclass(frozen=True, kw_only=True)
class GlancePhase:
    label: str  # `Fase 1: afsluiting`
    css: str  # the phase id, for its colour
    when: tuple[str, ...]  # weekday, date and time, weekday, date and time (`_span`)
    derived: bool  # its end is calgen's, not the runbook's (`end_note`)
    start: str  # instants, for the script (`instant`)
    end: str


@dataclass(frozen=True, kw_only=True)
class Glance:
    """The first screen, the answer to "what now?" without a script: go-live, the three
    phases with their dates and, in a role's view, the role's own deadlines in time
    order. A static page cannot know when it is read: what is "nu" or "volgende" only the
    reader's clock says (templates/html/page.js)."""

    go_live: str  # `maandag 4 april 2022, 13.00 uur`
    go_live_at: str  # the same for <time datetime>: `2022-04-04T13:00+02:00`
    phases: tuple[GlancePhase, ...]
    deadlines: tuple[Row, ...] = ()  # a role's view: the milestones it is action holder of


@dataclass(frozen=True, kw_only=True)
class Concept:
    """The banner of a concept (html/concept.html.j2): the runbook is not final yet."""

    label: str  # `Concept — nog niet vastgesteld`
    version: str  # `0.1`
    date: str  # `1 december 2026`


def concept(runbook: Runbook) -> Concept | None:
    """The banner a runbook's page and index entry carry, or None when it is final."""
    current = runbook.current
    if current is None or not runbook.is_concept:
        return None
    return Concept(
        label=CONCEPT_BANNER, version=current.version, date=dutch.date_plain(current.date)
    )


@dataclass(frozen=True, kw_only=True)
class DocumentContext:
    runbook: Runbook
    role: RoleView | None  # the per-role view, or None for the whole runbook
    chapters: tuple[Chapter, ...]
    feeds: tuple[Feed, ...]
    roles: tuple[RoleView, ...]
    timeline: Timeline
    phase_labels: dict[str, str] = field(default_factory=dict)
    changes_since: str = ""  # the previous version, when its snapshot is known
    changes: tuple[str, ...] = ()  # Dutch sentences (calgen.render.changes)
    lanes_html: dict[str, str] = field(default_factory=dict)  # each timeline lane, once
    narrow: tuple[NarrowPhase, ...] = ()  # the timeline as a list, for narrow screens
    glance: Glance | None = None  # the first screen
    concept: Concept | None = None  # the banner, while the newest version is a concept


class PageContext(TypedDict):
    """What `html/runbook.html.j2` and `md/runbook.md.j2` receive."""

    doc: DocumentContext


def _row(runbook: Runbook, m: Milestone) -> Row:
    date, time = dutch.columns(m.start, m.end)
    one_day = m.end is None or m.end.date() == m.start.date()
    soon = dutch.date_short(m.start) if one_day and _this_year(runbook, m.start) else date
    return Row(
        id=m.id,
        anchor=anchor(m.id),
        summary=summary(m),
        description=m.description or m.title,
        notes=m.notes,
        date=date,
        time=m.time_label or time,
        rule=" – ".join(r for r in (m.start_rule, m.end_rule) if r),
        actionholder=actionholder(runbook, m),
        roles=m.audience,
        messages=tuple(ref.written for ref in m.messages),
        period=m.end is not None,
        start=instant(m.start),
        end=instant(m.end) if m.end else "",
        soon=f"{soon}, {m.time_label or time}",
    )


def _this_year(runbook: Runbook, moment: dt.datetime) -> bool:
    """Whether the first screen may leave out a date's year: the year of go-live, which
    it shows in full."""
    return moment.year == runbook.go_live.year


def _span(runbook: Runbook, start: dt.datetime, end: dt.datetime) -> tuple[str, ...]:
    """A phase on the first screen: `woensdag`, `23 maart 23.00 uur – `, `donderdag`,
    `31 maart 13.00 uur` (years only when not the go-live's): the weekdays apart, which a
    phone leaves out to keep each phase on two lines."""
    out: list[str] = []
    for moment, after in ((start, " – "), (end, "")):
        day = dutch.date_short(moment) if _this_year(runbook, moment) else dutch.date_long(moment)
        weekday, _, date = day.partition(" ")
        out += [weekday, f"{date} {dutch.time_of(moment)}{after}"]
    return tuple(out)


def glance(runbook: Runbook, rows: Sequence[Row], role: str | None) -> Glance:
    """The first screen of the whole runbook, or of a role's view (`rows`: every row of
    the runbook, in its order)."""
    own = [
        row
        for m, row in zip(runbook.milestones, rows, strict=True)
        if role is not None and role in m.roles
    ]
    return Glance(
        go_live=dutch.when(runbook.go_live),
        go_live_at=instant(runbook.go_live),
        phases=tuple(
            GlancePhase(
                label=phase_label(p),
                css=p.id,
                when=_span(runbook, p.start, p.end),
                derived=bool(p.end_note),
                start=instant(p.start),
                end=instant(p.end),
            )
            for p in runbook.phases
        ),
        deadlines=tuple(sorted(own, key=lambda r: r.start)),  # stable: ties keep the order
    )


def _links(path: str, base_url: str, relative: str) -> tuple[str, str]:
    """The https link of a published file (`relative` without a base URL) and its
    webcal:// form ("" without a base URL)."""
    base = base_url.rstrip("/")
    https = f"{base}/{path}" if base else relative
    return https, ("webcal://" + https.split("://", 1)[1] if base else "")


def feeds(runbook: Runbook, base_url: str) -> tuple[Feed, ...]:
    out = []
    roles = [(layout.ALL, "Alle rollen")] + [(r.id, r.name) for r in runbook.roles]
    for role_id, name in roles:
        file = layout.feed_file(role_id)
        https, webcal = _links(layout.runbook_file(runbook.id, file), base_url, file)
        page = layout.role_page(role_id)
        out.append(Feed(role=role_id, name=name, file=file, https=https, webcal=webcal, page=page))
    return tuple(out)


def document(
    runbook: Runbook,
    base_url: str = "",
    role: str | None = None,
    changes: tuple[str, tuple[str, ...]] | None = None,
    *,
    rows: Sequence[Row] | None = None,
    timeline: Timeline | None = None,
    rows_html: Mapping[str, str] | None = None,
    lanes_html: Mapping[str, str] | None = None,
    items_html: Mapping[str, str] | None = None,
) -> DocumentContext:
    """The context for the whole runbook, or for the view of one role.

    `rows` and `timeline` of the whole runbook may be passed in: a role's view then only
    selects from them (iter_documents builds them once for all views)."""
    all_rows = rows if rows is not None else [_row(runbook, m) for m in runbook.milestones]
    whole = timeline if timeline is not None else build_timeline(runbook)
    shown = [
        (m, row)
        for m, row in zip(runbook.milestones, all_rows, strict=True)
        if role is None or role in m.audience
    ]
    rows_by_section: dict[str, list[Row]] = {}
    for m, row in shown:
        rows_by_section.setdefault(m.section, []).append(row)
    roles = tuple(
        RoleView(id=r.id, name=r.name, page=layout.role_page(r.id)) for r in runbook.roles
    )
    view = next((r for r in roles if r.id == role), None)
    return DocumentContext(
        runbook=runbook,
        role=view,
        chapters=tuple(
            _chapter(runbook, phase, rows_by_section, rows_html or {}) for phase in runbook.phases
        ),
        feeds=feeds(runbook, base_url),
        roles=roles,
        timeline=whole if view is None else select_lane(whole, runbook, view.name),
        phase_labels={p.id: phase_label(p) for p in runbook.phases},
        changes_since=changes[0] if changes else "",
        changes=changes[1] if changes else (),
        lanes_html=dict(lanes_html or {}),
        narrow=_narrow_phases(runbook, [m for m, _ in shown], items_html or {}),
        glance=glance(runbook, all_rows, role),
        concept=concept(runbook),
    )


def _chapter(
    runbook: Runbook,
    phase: Phase,
    rows_by_section: Mapping[str, list[Row]],
    rows_html: Mapping[str, str],
) -> Chapter:
    """A phase's chapter: its sections, each with the rows shown in this view."""
    sections = tuple(
        _section(runbook, s, rows_by_section.get(s.number, []), rows_html)
        for s in runbook.sections
        if s.phase == phase.id
    )
    return Chapter(
        number=phase.number + 2,  # 1 Doel and 2 Uitgangspunten come first
        title=phase_label(phase),
        text=phase.text,
        phase=phase,
        sections=sections,
    )


def _section(
    runbook: Runbook, section: Section, rows: list[Row], rows_html: Mapping[str, str]
) -> SectionView:
    return SectionView(
        number=section.number,
        title=section.title,
        text=section.text,
        rows=tuple(rows),
        contacts=tuple(runbook.contact(c) for c in section.contacts),
        rows_html=markupsafe.Markup("".join(rows_html.get(r.id, "") for r in rows)),
        holders=HOLDERS_HEADING.get(section.phase, "Actiehouder"),
    )


def _listed_under(runbook: Runbook, m: Milestone) -> Phase:
    """The phase a milestone is listed under in the timeline as a list: the phase whose
    time it falls in (go-live opens phase 3), except a deadline at the very instant its
    own phase ends, which closes that phase, as its table, runbook.md and the feeds'
    CATEGORIES (all by its chapter) say: 3.1.4 and 3.1.5 close phase 1, 4.1.x phase 2.
    A period that starts as a phase ends (3.2.3, the migration) is listed under the
    phase it spans."""
    own = next(p for p in runbook.phases if p.id == m.phase)
    if m.end is None and m.start == own.end:
        return own
    during = next((p for p in reversed(runbook.phases) if p.start <= m.start), None)
    return during or runbook.phases[0]


def _narrow_phases(
    runbook: Runbook, milestones: list[Milestone], items_html: Mapping[str, str]
) -> tuple[NarrowPhase, ...]:
    """The timeline as a list for narrow screens: each phase with its marks in time order."""
    marks_by_phase: dict[str, list[Milestone]] = {}
    for m in milestones:
        marks_by_phase.setdefault(_listed_under(runbook, m).id, []).append(m)
    return tuple(
        NarrowPhase(
            label=phase_label(p),
            css=p.id,
            when=dutch.when(p.start, p.end),
            derived=p.end_note.strip(),
            items_html=markupsafe.Markup(
                "".join(
                    items_html.get(m.id, "")
                    for m in sorted(marks_by_phase.get(p.id, []), key=lambda m: m.start)
                )
            ),
        )
        for p in runbook.phases
    )


def iter_documents(
    env: jinja2.Environment,
    runbook: Runbook,
    base_url: str,
    changes: tuple[str, tuple[str, ...]] | None = None,
) -> Iterator[tuple[str, str]]:
    """`index.html`, `runbook.md` and one `<role>.html` view per role.

    `changes`: the previous version and the changes since, shown by the version table.
    Rows, their HTML and the timeline are made once and shared by every view, so more
    roles cost little."""
    page = env.get_template("html/runbook.html.j2")
    rows = [_row(runbook, m) for m in runbook.milestones]
    macros = env.get_template("html/macros.html.j2").make_module()
    row_macro = getattr(macros, "row")  # noqa: B009 - a template module has no typed attributes
    rows_html = {r.id: markupsafe.Markup(row_macro(r)) for r in rows}
    timeline = build_timeline(runbook)
    lane_macro = getattr(macros, "lane")  # noqa: B009 - as above
    marker_macro = getattr(macros, "marker")  # noqa: B009 - as above
    marks: dict[str, str] = {}  # a milestone's mark is the same on every lane
    for lane in timeline.lanes:
        for m in lane.markers:
            if m.id not in marks:
                marks[m.id] = marker_macro(m)
    lanes_html = {
        lane.name: markupsafe.Markup(
            lane_macro(
                lane, timeline, markupsafe.Markup("".join(marks[m.id] for m in lane.markers))
            )
        )
        for lane in timeline.lanes
    }
    item_macro = getattr(macros, "timeline_item")  # noqa: B009 - as above
    early = {m.id for lane in timeline.lanes for m in lane.markers if m.early}
    items_html = {r.id: markupsafe.Markup(item_macro(r, r.id in early)) for r in rows}
    shared = {
        "rows": rows,
        "timeline": timeline,
        "rows_html": rows_html,
        "lanes_html": lanes_html,
        "items_html": items_html,
    }
    whole = document(runbook, base_url, None, changes, **shared)  # type: ignore[arg-type]
    yield layout.INDEX, page.render(PageContext(doc=whole))
    yield layout.MARKDOWN, env.get_template("md/runbook.md.j2").render(PageContext(doc=whole))
    for role in runbook.roles:
        view = document(runbook, base_url, role.id, changes, **shared)  # type: ignore[arg-type]
        yield layout.role_page(role.id), page.render(PageContext(doc=view))


class IndexItem(TypedDict):
    runbook: Runbook
    feeds: tuple[Feed, ...]
    concept: Concept | None  # the banner, while the newest version is a concept


@dataclass(frozen=True, kw_only=True)
class FeedSet:
    """The durable feeds of one set (the root, or one standard) on the site's index."""

    id: str  # HTML id of its heading
    title: str  # `Alle standaarden`, `Alleen iJw`
    standards: str  # `iWmo en iJw`
    runbooks: tuple[str, ...]  # titles of the runbooks it carries, newest first
    feeds: tuple[Feed, ...]


def durable_sets(
    lasting: Sequence[DurableFeed], runbooks: Sequence[Runbook], base_url: str
) -> tuple[FeedSet, ...]:
    titles = {rb.id: rb.title for rb in runbooks}
    sets: dict[str, list[DurableFeed]] = {}
    for feed in lasting:
        sets.setdefault(feed.standard, []).append(feed)
    out = []
    for standard, found in sets.items():
        links = []
        for f in found:
            https, webcal = _links(f.path, base_url, f.path)
            name = f"{f.role_name}, " + (f"alleen {standard}" if standard else "alle standaarden")
            links.append(
                Feed(role=f.role, name=name, file=f.path, https=https, webcal=webcal, page="")
            )
        out.append(
            FeedSet(
                id=f"abonneer-{f.path.split('/')[0] if standard else 'alles'}",
                title=f"Alleen {standard}"
                if standard
                else f"Alle standaarden ({found[0].standards})",
                standards=found[0].standards,
                runbooks=tuple(titles[i] for i in reversed(found[0].runbooks)),
                feeds=tuple(links),
            )
        )
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class SubscribeRow:
    """A row of the index's one subscribe table: a role, and its feed in each set (a
    column: every standard, then each standard alone)."""

    name: str  # `Alle rollen`, `Gemeenten`
    feeds: tuple[Feed | None, ...]  # by set; None where a set has no feed for the role


def subscribe_rows(
    sets: Sequence[FeedSet], lasting: Sequence[DurableFeed]
) -> tuple[SubscribeRow, ...]:
    """The roles as rows, in the order the sets name them (every role first)."""
    names = {f.role: f.role_name for f in lasting}
    by_set = [{f.role: f for f in s.feeds} for s in sets]
    roles = dict.fromkeys(f.role for s in sets for f in s.feeds)
    return tuple(
        SubscribeRow(name=names[role], feeds=tuple(found.get(role) for found in by_set))
        for role in roles
    )


@dataclass(frozen=True, kw_only=True)
class GoLive:
    """Beside "Abonneer één keer": the go-live of a standard's newest runbook (by go-live),
    which is the upcoming one when one is planned. A build does not read the clock, so
    the page cannot say which is past; the script marks the next (html/page.js)."""

    standards: str  # `iWmo en iJw` (standards whose newest runbook is the same); "" for none
    when: str  # `maandag 4 april 2022, 13.00 uur`
    at: str  # the instant (`instant`)
    title: str  # the runbook's
    page: str  # its page, relative to the index


def _and(names: Sequence[str]) -> str:
    """`iWmo`, `iWmo en iJw`, `A, B en C`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} en {names[-1]}"


def go_lives(runbooks: Sequence[Runbook]) -> tuple[GoLive, ...]:
    """Per standard (as `durable` groups them) its newest runbook's go-live, newest first."""
    newest: dict[str, tuple[str, Runbook]] = {}  # standard's folder -> as written, runbook
    for rb in sorted(runbooks, key=lambda rb: (rb.go_live, rb.id), reverse=True):
        for standard in rb.standards or ("",):
            newest.setdefault(layout.standard_folder(standard), (standard, rb))
    shared: dict[str, list[str]] = {}  # runbook id -> the standards it is newest of
    for written, rb in newest.values():
        shared.setdefault(rb.id, []).append(written)
    found = {rb.id: rb for _, rb in newest.values()}
    return tuple(
        GoLive(
            standards=_and([s for s in standards if s]) if any(standards) else "",
            when=dutch.when(found[rb_id].go_live),
            at=instant(found[rb_id].go_live),
            title=found[rb_id].title,
            page=layout.runbook_file(rb_id, layout.INDEX),
        )
        for rb_id, standards in shared.items()
    )


def render_index(
    env: jinja2.Environment,
    runbooks: list[Runbook],
    base_url: str,
    lasting: Sequence[DurableFeed] = (),
) -> str:
    """`dist/index.html`: the durable feeds ("Abonneer één keer") in one table, beside the
    go-live of each standard, then every runbook, newest go-live first."""
    items = [
        IndexItem(runbook=rb, feeds=feeds(rb, base_url), concept=concept(rb))
        for rb in sorted(runbooks, key=lambda rb: rb.go_live, reverse=True)
    ]
    sets = durable_sets(lasting, runbooks, base_url)
    return env.get_template("html/index.html.j2").render(
        runbooks=items,
        sets=sets,
        rows=subscribe_rows(sets, lasting),
        golives=go_lives(runbooks),
    )
