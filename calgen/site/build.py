"""`calgen build`: render loaded runbooks and publish them into (or check them against)
an output folder, with the history already published there. Returns counts and notes;
the CLI prints them and chooses the exit code."""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from calgen.core.errors import CalgenError
from calgen.render.ical import durable, revise
from calgen.runbook.model import Runbook
from calgen.site import outputs, publish, published, records
from calgen.site.publish import PublishError


class TemplateRenderError(CalgenError):
    """A template failed while rendering; nothing was written."""


@dataclass(frozen=True, kw_only=True)
class Result:
    total: int  # outputs rendered
    written: int  # files that changed (0 with check)
    stale: tuple[str, ...]  # with check: every missing or out-of-date file, as a line
    notes: tuple[str, ...]  # earlier output that could not be read, as a line each


def protected_paths(
    paths: Sequence[Path], runbooks: Sequence[Runbook], templates: Path | None
) -> list[Path]:
    """calgen's own input, which may never be inside the folder it publishes into."""
    protected = [*paths, *(Path(rb.source) for rb in runbooks)]
    protected += [Path(rb.source).parent / use for rb in runbooks for use in rb.uses]
    if templates is not None:
        protected.append(templates)
    return protected


def run(
    runbooks: Sequence[Runbook],
    *,
    paths: Sequence[Path],
    out: Path,
    check: bool,
    templates: Path | None,
    base_url: str,
    moment: dt.datetime,
    partial: bool = False,
    checked: records.Checked | None = None,
) -> Result:
    """Publish (or with `check`, compare) every output of `runbooks` in `out`.
    `partial`: the runbooks were named one by one, not as their folder: the site-wide
    outputs (index, durable feeds) already published are then left as they are.
    `checked`: the records check of these runbooks against `out` (calgen.site.records),
    when the caller made it already to report its warnings.
    Raises records.RecordError when the build would rewrite a published version, and
    publish.PublishError when `out` may not be written, both before rendering; and
    TemplateRenderError when a template fails."""
    protected = protected_paths(paths, runbooks, templates)
    if checked is None:
        checked = records.check(runbooks, out, moment)
    checked.raise_if_refused()
    if not check:
        publish.refuse_early(out, protected=protected)  # before anything is rendered
    _refuse_standard_over_published_runbook(runbooks, out)
    _refuse_runbook_over_published_durable_feeds(runbooks, out)
    notes: list[str] = list(checked.notes)
    resolved = templates.resolve() if templates else None
    editions = revise.editions(runbooks)  # what a cancelled event says it is cancelled since
    rendered = outputs.with_history(
        outputs.iter_outputs(
            runbooks,
            base_url=base_url,
            templates=resolved,
            history=checked.history,
        ),
        out,
        moment,
        notes,
        editions,
    )
    if partial:  # the index and durable feeds stay as the last build of the folder made them
        rendered = outputs.keep_published_site(rendered, out, [rb.id for rb in runbooks], notes)
    else:
        rendered = outputs.cancel_orphans(rendered, out, moment, notes, editions)
    problems: list[str] = []
    written: list[Path] = []
    try:  # outputs are rendered as they are compared or written
        if check:
            problems, total = outputs.stale(rendered, out)
        else:
            written, total = publish.write(rendered, out, protected=protected)
    except Exception as exc:
        frame = _user_template_frame(exc, resolved)
        if isinstance(exc, jinja2.TemplateSyntaxError | jinja2.TemplateNotFound):
            where = f"{exc.filename or exc.name}:{getattr(exc, 'lineno', '')}: "
        elif frame is not None:
            where = f"{frame}: {type(exc).__name__}: "
        elif isinstance(exc, jinja2.TemplateError):
            where = ""
        else:
            raise  # calgen's own bug: a traceback is what is needed
        raise TemplateRenderError(f"template error: {where}{exc}; nothing was written") from exc
    return Result(total=total, written=len(written), stale=tuple(problems), notes=tuple(notes))


def _refuse_standard_over_published_runbook(runbooks: Sequence[Runbook], out: Path) -> None:
    """A standard's durable feeds go into `<standard>/`; the folder of a runbook published
    earlier under that id (its page, its versions) is not theirs to overwrite."""
    for feed in durable.plan(runbooks):
        folder = feed.path.rpartition("/")[0]
        if folder and published.is_runbook_folder(out / folder):
            raise PublishError(
                f"{out / folder}: the durable {feed.standard} feeds would go into the "
                f"published folder of runbook {folder!r}; give the standard another name"
            )


def _refuse_runbook_over_published_durable_feeds(runbooks: Sequence[Runbook], out: Path) -> None:
    """A runbook's folder `<id>/` may not be where durable feeds of a standard were
    published, whatever runbooks this build names: a durable feed is written only by the
    build that owns it."""
    taken = published.durable_folders(out, {rb.id for rb in runbooks})
    if taken:
        folder = sorted(taken)[0]
        raise PublishError(
            f"{out / folder}: holds the durable feeds of a standard; runbook id {folder!r} "
            "would overwrite them: give the runbook another id; nothing was written"
        )


def _user_template_frame(exc: BaseException, templates: Path | None) -> str | None:
    """`file:line` of the innermost frame of `exc` in a template from `templates` (Jinja
    puts template lines into tracebacks), or None when no user template took part."""
    if templates is None:
        return None
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).is_relative_to(templates):
            found = f"{frame.filename}:{frame.lineno}"
    return found
