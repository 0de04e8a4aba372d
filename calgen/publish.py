"""The only module that writes: renders every runbook and puts the result in `dist/`.

Everything is rendered in memory first, so a runbook that fails writes nothing. The new
tree is then assembled beside the output folder and swapped in whole (see `write`).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from calgen.diff import Snapshot, compare, from_json, snapshot, to_json
from calgen.errors import CalgenError
from calgen.model import Runbook
from calgen.render import durable
from calgen.render.document import iter_documents, render_index
from calgen.render.ics import PRODID, feed_parts
from calgen.render.revise import revise
from calgen.templating import environment


def iter_outputs(
    runbooks: Iterable[Runbook],
    *,
    base_url: str = "",
    templates: Path | None = None,
    prodid: str = PRODID,
    history: Mapping[str, Mapping[str, Snapshot]] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) for every output, one at a time: first each runbook's
    version snapshot and feeds, then the durable feeds (calgen.render.durable), then each
    runbook's pages, then the site's index. A large runbook never has all its outputs in
    memory at once; the events the durable feeds need are held (as the bytes objects the
    feeds share) only until the durable feeds are out, before the pages are rendered.

    `history` holds the snapshots of earlier versions (read_history): a runbook page shows
    the changes since the previous version of its version table when that one is known.
    """
    env = environment(templates)
    runbooks = list(runbooks)
    lasting = durable.plan(runbooks)  # refuses ids that would take a durable feed's path
    kept = {rb_id for feed in lasting for rb_id in feed.runbooks}
    bodies: dict[tuple[str, str], list[bytes]] = {}
    changes: dict[str, tuple[str, tuple[str, ...]]] = {}
    for runbook in runbooks:
        if runbook.versions:
            current = runbook.versions[0].version
            yield (
                f"{runbook.id}/versies/{current}.json",
                to_json(current, snapshot(runbook)).encode("utf-8"),
            )
            earlier = (history or {}).get(runbook.id, {})
            if len(runbook.versions) > 1 and runbook.versions[1].version in earlier:
                previous = runbook.versions[1].version
                found = compare(earlier[previous], snapshot(runbook), runbook.calendar)
                changes[runbook.id] = (previous, tuple(str(c) for c in found))
        for name, parts in feed_parts(env, runbook, prodid, base_url):
            if runbook.id in kept:  # the events' bytes objects, shared, not copies
                bodies[(runbook.id, name.removesuffix(".ics"))] = parts[2:-1]
            yield f"{runbook.id}/{name}", b"".join(parts)
    yield from durable.iter_durable(lasting, runbooks, bodies, prodid)
    bodies.clear()
    for runbook in runbooks:
        for name, text in iter_documents(env, runbook, base_url, changes.get(runbook.id)):
            data = text.encode("utf-8")
            del text  # not kept alive while the next page is rendered
            yield f"{runbook.id}/{name}", data
    yield "index.html", render_index(env, runbooks, base_url, lasting).encode("utf-8")


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


def read_history(out_dir: Path, runbooks: Iterable[Runbook]) -> dict[str, dict[str, Snapshot]]:
    """The version snapshots already published in `out_dir/<id>/versies/`."""
    history: dict[str, dict[str, Snapshot]] = {}
    for runbook in runbooks:
        folder = out_dir / runbook.id / "versies"
        if folder.is_dir():
            history[runbook.id] = {
                path.stem: from_json(path.read_text(encoding="utf-8"))
                for path in sorted(folder.glob("*.json"))
            }
    return history


def with_history(
    outputs: Iterable[tuple[str, bytes]], out_dir: Path, now: dt.datetime
) -> Iterator[tuple[str, bytes]]:
    """Every feed revised against the one it replaces in `out_dir` (calgen.render.revise)."""
    for rel, data in outputs:
        if rel.endswith(".ics"):
            target = out_dir / rel
            previous = target.read_bytes() if target.is_file() else None
            data = revise(data, previous, now)
        yield rel, data


def stale(outputs: Iterable[tuple[str, bytes]], out_dir: Path) -> tuple[list[str], int]:
    """The outputs that are missing from `out_dir` or differ from what is there, and how
    many outputs there are."""
    problems = []
    total = 0
    for rel, data in outputs:
        total += 1
        target = out_dir / rel
        if not target.is_file():
            problems.append(f"{target}: missing")
        elif target.read_bytes() != data:
            problems.append(f"{target}: stale")
    return problems, total


class PublishError(CalgenError):
    """The output folder cannot be written now (another build holds it)."""


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """One build at a time per output folder; a second one is refused, not queued."""
    lock_path = out_dir.parent / f".{out_dir.name}.calgen-lock"
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(
                f"another calgen build is writing {out_dir} (lock {lock_path}); "
                "nothing was written: try again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2 RENAME_EXCHANGE)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange)
    return bool(done == 0)


def _carry_over(old: Path, new: Path) -> None:
    """Files this build does not produce (other runbooks, older version snapshots) stay:
    hard links where possible, so unchanged files keep their inode and mtime."""
    for source in old.rglob("*"):
        target = new / source.relative_to(old)
        if source.is_dir() and not source.is_symlink():
            target.mkdir(parents=True, exist_ok=True)
        elif source.is_file() and not source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


def write(outputs: Iterable[tuple[str, bytes]], out_dir: Path) -> tuple[list[Path], int]:
    """Publish `outputs` into `out_dir` as a whole; returns the paths that changed and how
    many outputs there were.

    The new tree is built next to `out_dir`, file by file as the outputs are rendered,
    and swapped in with one atomic rename, under a lock: a failing or killed build leaves
    the previous `out_dir` exactly as it was, and readers (a web server, a sync) never see
    a half-written tree. When nothing changed, nothing is swapped.
    """
    out_dir = Path(os.path.abspath(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    changed: list[Path] = []
    total = 0
    with _locked(out_dir):
        # what a killed build left behind (none can be running: we hold the lock)
        for left in out_dir.parent.glob(f".{out_dir.name}.calgen-*"):
            if left.is_dir() and left.name != out_dir.name:
                shutil.rmtree(left, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.calgen-new-"))
        try:
            if out_dir.is_dir():
                _carry_over(out_dir, staging)
            for rel, data in outputs:
                total += 1
                target = out_dir / rel
                if target.is_file() and target.read_bytes() == data:
                    continue  # the hard link made by _carry_over stays
                path = staging / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.unlink(missing_ok=True)  # a new inode: never write through a hard link
                path.write_bytes(data)
                os.chmod(path, 0o644)
                changed.append(target)
            if changed:
                os.chmod(staging, 0o755)
                _swap(staging, out_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return changed, total


def _swap(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(staging, out_dir)
    elif _exchange(staging, out_dir):
        shutil.rmtree(staging)  # now the old tree
    else:  # no renameat2: two renames, a moment without out_dir
        old = out_dir.with_name(f".{out_dir.name}.calgen-old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out_dir, old)
        os.rename(staging, out_dir)
        shutil.rmtree(old)
