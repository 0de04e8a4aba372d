"""The one reader of a published folder: earlier feeds, version snapshots, the manifest.

What is published is data from outside: a hand-edited, truncated or planted file must
never crash a build or a notify run. Every read goes through `read_earlier` (a regular
file only, never through a symlink, FIFO or device, and never more than
MAX_EARLIER_BYTES); what cannot be read or parsed is named in a note and treated as
absent. Paths come from calgen.core.layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Container, Iterable, Iterator
from pathlib import Path

from calgen.core import layout
from calgen.core.fsutil import read_regular
from calgen.render.changes import Snapshot, from_json
from calgen.render.ical.revise import uids
from calgen.runbook.model import Runbook

MAX_EARLIER_BYTES = 50 * 1024 * 1024  # far above any real feed; a bigger file is not ours
# A snapshot line is about 200 bytes: 8 MiB is some 40,000 milestones, and a larger file
# (which every notify run would parse) is not calgen's.
MAX_JSON_BYTES = 8 * 1024 * 1024

# What reading a published file can raise besides OSError, however it is damaged
DAMAGED = (
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    OverflowError,
    RecursionError,
)


def read_earlier(path: Path) -> bytes | None:
    """The bytes of an earlier output, or None when there is none.

    Earlier output is untrusted: only a regular file is read (never a FIFO or a device,
    which could block), up to MAX_EARLIER_BYTES. Raises OSError or ValueError otherwise.
    """
    return read_regular(path, MAX_EARLIER_BYTES)


def unusable_reason(exc: BaseException) -> str:
    """Why a published file could not be used, in a few words, never its content."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    if isinstance(exc, ValueError) and text and not isinstance(exc, UnicodeError):
        return text
    return f"not a file calgen writes ({type(exc).__name__})"


def note_unreadable(notes: list[str] | None, path: Path, exc: BaseException) -> None:
    """Name a published file that could not be used, once, in `notes`."""
    if notes is not None:
        reason = unusable_reason(exc)
        notes.append(f"{path}: earlier output is unreadable ({reason}); built as if it were absent")


def read_snapshot(out_dir: Path, runbook: str, version: str) -> Snapshot | None:
    """A published version snapshot; None when it is missing. OSError or one of DAMAGED
    when it is there but unusable."""
    return read_snapshot_file(out_dir / layout.snapshot_file(runbook, version))


def has_snapshot(out_dir: Path, runbook: str, version: str) -> bool:
    """Whether a snapshot of `version` is published, readable or not (a damaged one is
    still a version that was published)."""
    return os.path.lexists(out_dir / layout.snapshot_file(runbook, version))


def read_snapshot_file(path: Path) -> Snapshot | None:
    """The snapshot in `path` (see read_snapshot)."""
    raw = read_regular(path, MAX_JSON_BYTES)
    return None if raw is None else from_json(raw.decode("utf-8"))


def read_history(
    out_dir: Path, runbooks: Iterable[Runbook], notes: list[str] | None = None
) -> dict[str, dict[str, Snapshot]]:
    """The version snapshots already published in `out_dir/<id>/versies/`.

    A snapshot that cannot be read or parsed is noted in `notes` (naming the file) and
    left out, as if it had never been published."""
    history: dict[str, dict[str, Snapshot]] = {}
    for runbook in runbooks:
        folder = out_dir / runbook.id / layout.SNAPSHOTS
        if folder.is_symlink() or not folder.is_dir():
            continue
        found: dict[str, Snapshot] = {}
        for path in sorted(folder.glob("*.json")):
            try:
                shot = read_snapshot(out_dir, runbook.id, path.stem)
            except (OSError, *DAMAGED) as exc:
                note_unreadable(notes, path, exc)
                continue
            if shot is not None:
                found[path.stem] = shot
        history[runbook.id] = found
    return history


def read_manifest(folder: Path) -> set[str] | None:
    """The files listed in `folder`'s manifest; None without one. OSError or ValueError
    when it is there but not calgen's."""
    raw = read_regular(folder / layout.MANIFEST, MAX_JSON_BYTES)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    files = data["files"] if isinstance(data, dict) and data.get("calgen") == 1 else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ValueError("not a calgen manifest")
    return set(files)


def is_runbook_folder(folder: Path) -> bool:
    """Whether a runbook's page or versions were published in `folder`."""
    return (folder / layout.INDEX).exists() or (folder / layout.SNAPSHOTS).exists()


def durable_folders(out_dir: Path, names: Iterable[str]) -> set[str]:
    """Those of `names` that are folders of `out_dir` holding durable feeds."""
    found = set()
    for name in names:
        folder = out_dir / name
        if folder.is_dir() and not folder.is_symlink():
            feeds = [rel for rel, _ in durable_feeds(out_dir, only=folder)]
            if feeds:
                found.add(name)
    return found


def durable_feeds(
    out_dir: Path,
    skip: Container[str] = (),
    notes: list[str] | None = None,
    only: Path | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every durable feed published in `out_dir` (or only in
    its folder `only`), but those in `skip` (not even read).

    A durable feed is an `.ics` file at the root of `out_dir`, or one in a folder of it
    whose events belong to other runbooks than the folder's name (a standard's folder
    can never be a runbook's id). A runbook's own feeds in `<id>/` are not listed."""
    if not out_dir.is_dir():
        return
    if only is not None:
        candidates = list(only.glob("*.ics"))
    else:
        candidates = list(out_dir.glob("*.ics"))
        for folder in out_dir.iterdir():
            if folder.is_dir() and not folder.is_symlink():
                candidates += folder.glob("*.ics")
    for path in sorted(candidates):
        rel = path.relative_to(out_dir).as_posix()
        if rel in skip or path.is_symlink():
            continue
        try:
            data = read_earlier(path)
            if data is None:
                continue
            found = uids(data)
        except (OSError, *DAMAGED) as exc:
            note_unreadable(notes, path, exc)
            continue
        own = path.parent.name
        if "/" in rel and all(layout.uid_belongs_to(uid, own) for uid in found):
            continue  # a runbook's own feed (or an empty one): not a durable feed
        yield rel, data
