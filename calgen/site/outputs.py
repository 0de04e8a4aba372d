"""What a build produces, and how it meets what is already published: every output
rendered one at a time (a generator, so a large build is never held in memory whole),
feeds revised against the feeds they replace (SEQUENCE, LAST-MODIFIED, CANCELLED), the
site-wide files left alone by a build of named files (`keep_published_site`), durable
feeds no longer made published once more, cancelled (`cancel_orphans`), and `build
--check`'s comparison. Earlier output is read by calgen.site.published only; writing it
all into the out folder is calgen.site.publish's job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from calgen.core import layout
from calgen.render.changes import Snapshot, compare, snapshot, to_json
from calgen.render.ical import durable
from calgen.render.ical.feeds import PRODID, feed_parts
from calgen.render.ical.revise import revise
from calgen.render.page.document import iter_documents, render_index
from calgen.render.templating import environment
from calgen.runbook.model import Runbook
from calgen.site import published


def iter_outputs(
    runbooks: Iterable[Runbook],
    *,
    base_url: str = "",
    templates: Path | None = None,
    prodid: str = PRODID,
    history: Mapping[str, Mapping[str, Snapshot]] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) for every output, one at a time: first each runbook's
    version snapshot and feeds, then the durable feeds (calgen.render.ical.durable), then each
    runbook's pages, then the site's index. A large runbook never has all its outputs in
    memory at once; the events the durable feeds need are held (as the bytes objects the
    feeds share) only until the durable feeds are out, before the pages are rendered.

    `history` holds the snapshots of earlier versions (read_history): a runbook page shows
    the changes since the previous version of its version table when that one is known.
    """
    env = environment(templates)
    runbooks = list(runbooks)
    lasting = durable.plan(runbooks)
    kept = {rb_id for feed in lasting for rb_id in feed.runbooks}
    bodies: dict[tuple[str, str], list[bytes]] = {}
    changes: dict[str, tuple[str, tuple[str, ...]]] = {}
    for runbook in runbooks:
        if runbook.current is not None and runbook.current.is_final:
            # a concept's schedule is no record yet: only final versions get a snapshot
            current = runbook.current.version
            yield (
                layout.snapshot_file(runbook.id, current),
                to_json(current, snapshot(runbook)).encode("utf-8"),
            )
        previous = runbook.previous_final()
        earlier = (history or {}).get(runbook.id, {})
        if previous is not None and previous.version in earlier:
            found = compare(earlier[previous.version], snapshot(runbook), runbook.calendar)
            changes[runbook.id] = (previous.version, tuple(str(c) for c in found))
        for name, parts in feed_parts(env, runbook, prodid, base_url):
            if runbook.id in kept:  # the events' bytes objects, shared, not copies
                bodies[(runbook.id, name.removesuffix(".ics"))] = parts[2:-1]
            yield layout.runbook_file(runbook.id, name), b"".join(parts)
    yield from durable.iter_durable(lasting, runbooks, bodies, prodid)
    bodies.clear()
    for runbook in runbooks:
        for name, text in iter_documents(env, runbook, base_url, changes.get(runbook.id)):
            data = text.encode("utf-8")
            del text  # not kept alive while the next page is rendered
            yield layout.runbook_file(runbook.id, name), data
    yield layout.INDEX, render_index(env, runbooks, base_url, lasting).encode("utf-8")


def render_all(
    runbooks: Iterable[Runbook],
    *,
    base_url: str = "",
    templates: Path | None = None,
    prodid: str = PRODID,
    history: Mapping[str, Mapping[str, Snapshot]] | None = None,
) -> dict[str, bytes]:
    """All outputs at once, by relative path (for tests and small uses)."""
    outputs = iter_outputs(
        runbooks, base_url=base_url, templates=templates, prodid=prodid, history=history
    )
    return dict(sorted(outputs))


def with_history(
    outputs: Iterable[tuple[str, bytes]],
    out_dir: Path,
    now: dt.datetime,
    notes: list[str] | None = None,
    editions: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Every feed revised against the one it replaces in `out_dir` (calgen.render.ical.revise;
    `editions`: of the runbooks built, which a cancelled event names).

    A published feed that cannot be read or revised against (bytes that are not UTF-8,
    `SEQUENCE:x`, a FIFO) is noted in `notes` and treated as absent."""
    for rel, data in outputs:
        if rel.endswith(".ics"):
            target = out_dir / rel
            try:
                data = revise(data, published.read_earlier(target), now, editions)
            except (OSError, *published.DAMAGED) as exc:
                published.note_unreadable(notes, target, exc)
        yield rel, data


def site_wide(rel: str, runbook_ids: set[str]) -> bool:
    """Whether an output belongs to the whole site (the index, the durable feeds) rather
    than to one of these runbooks (everything of a runbook is under `<id>/`)."""
    return rel.split("/", 1)[0] not in runbook_ids


def keep_published_site(
    outputs: Iterable[tuple[str, bytes]],
    out_dir: Path,
    runbook_ids: Iterable[str],
    notes: list[str],
) -> Iterator[tuple[str, bytes]]:
    """The outputs of a build of named runbook files, without the site-wide ones that are
    already published: such a build knows only its runbooks, and an index or durable feed
    made from them would drop, revive or rename what the other runbooks put there. What
    is not published yet (a new folder) is written."""
    ids, kept = set(runbook_ids), []
    for rel, data in outputs:
        if site_wide(rel, ids) and (out_dir / rel).exists():
            kept.append(rel)
            continue
        yield rel, data
    if kept:
        notes.append(
            f"{len(kept)} site-wide file(s) kept as published ({', '.join(kept[:3])}"
            f"{', …' if len(kept) > 3 else ''}): a build of named runbook files does not know "
            "the other runbooks; build the folder to update the index and the durable feeds"
        )


def cancel_orphans(
    outputs: Iterable[tuple[str, bytes]],
    out_dir: Path,
    now: dt.datetime,
    notes: list[str] | None = None,
    editions: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """The outputs of a build of the whole folder, then every durable feed published
    before that this build no longer makes (a standard no runbook names any more), with
    all its events cancelled, so subscribers' clients drop them.

    Which published feeds are durable ones, calgen.site.published says; a runbook's own
    feeds in `<id>/` are never touched: a dropped runbook keeps them."""
    made = set()
    for rel, data in outputs:
        made.add(rel)
        yield rel, data
    for rel, previous in published.durable_feeds(out_dir, skip=made, notes=notes):
        try:
            start = previous.find(b"BEGIN:VEVENT\r\n")
            head = previous[: start if start >= 0 else previous.rfind(b"END:VCALENDAR")]
            yield rel, revise(head + b"END:VCALENDAR\r\n", previous, now, editions)
        except (OSError, *published.DAMAGED) as exc:
            published.note_unreadable(notes, out_dir / rel, exc)


def stale(outputs: Iterable[tuple[str, bytes]], out_dir: Path) -> tuple[list[str], int]:
    """The outputs that are missing from `out_dir` or differ from what is there, and how
    many outputs there are."""
    problems = []
    total = 0
    for rel, data in outputs:
        total += 1
        target = out_dir / rel
        try:
            there = published.read_earlier(target)
        except (OSError, ValueError) as exc:
            problems.append(f"{target}: unreadable ({exc})")
            continue
        if there is None:
            problems.append(f"{target}: missing")
        elif there != data:
            problems.append(f"{target}: stale")
    return problems, total
